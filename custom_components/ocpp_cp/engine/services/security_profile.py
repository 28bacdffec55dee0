"""SecurityProfile upgrades: prerequisites before Accepted, fallback when the new profile fails.

libocpp accepts a higher profile only when what it needs exists, reconnects with it, and goes
back to the previous profile when the new one cannot connect. The previous profile is a
journal document written before the new one, so a restart during the trial still falls back.
"""

from __future__ import annotations

import dataclasses
import logging

from ..settings import EngineSettings, SecurityProfile, SettingsError
from .certificates import CSMS_ROOT, CertificateService
from .configuration import ConfigurationService
from .connection import ConnectionService
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

DOCUMENT_FALLBACK = "security_profile_fallback"
# Failed dials with a new profile before the previous one comes back (libocpp: 1; one more
# here so that a single passing fault does not undo what the CSMS asked for).
SWITCH_ATTEMPTS = 2


class SecurityProfileService:
    def __init__(
        self,
        ctx: EngineContext,
        connection: ConnectionService,
        certificates: CertificateService,
        configuration: ConfigurationService,
    ) -> None:
        self.ctx = ctx
        self.connection = connection
        self.certificates = certificates
        self.configuration = configuration
        self.fallback: int | None = None
        self._failures = 0

    def missing(self, wanted: int) -> str | None:
        """What profile ``wanted`` lacks here (None = it may be set); never lower, never > 3."""
        current = self.ctx.config.get_int("SecurityProfile")
        if not 0 <= wanted <= 3:
            return "no such security profile"
        if wanted < current:
            return "a security profile is never lowered"
        if wanted == current:
            return None
        settings = self.connection.settings
        if wanted >= 2 and not (self.certificates.roots(CSMS_ROOT) or settings.ca_file):
            return "no CentralSystemRootCertificate installed and no CA file"
        if wanted == 3 and not (self.certificates.client_files() or settings.client_cert_file):
            return "no client certificate"
        try:
            self._with_profile(settings, wanted)
        except ValueError as err:
            return str(err)
        return None

    @staticmethod
    def _with_profile(settings: EngineSettings, profile: int) -> EngineSettings:
        return dataclasses.replace(settings, security_profile=SecurityProfile(profile))

    async def restore(self) -> None:
        """The certificate store, then a SecurityProfile raise still on trial."""
        await self.certificates.restore()
        saved = await self.ctx.journal.load_document(DOCUMENT_FALLBACK)
        current = self.ctx.config.get_int("SecurityProfile")
        if isinstance(saved, int) and saved < current:
            self.fallback = saved
            _LOGGER.info("Trying security profile %s (fallback %s)", current, saved)

    async def upgrading(self, old: int, new: int) -> bool:
        """Before the new profile is written: remember the old one durably."""
        if new <= old:
            return True
        return await self.ctx.save_document(DOCUMENT_FALLBACK, old)

    async def not_upgraded(self) -> None:
        """The new profile's save failed: the fallback document back to the trial in memory
        (best effort; restore() ignores a fallback that is not below the current profile)."""
        await self.ctx.save_document(DOCUMENT_FALLBACK, self.fallback)

    def upgraded(self, old: int, new: int) -> None:
        """The new profile is committed: its trial starts (and only now is it a change)."""
        if new <= old:
            return
        self.fallback = old
        self._failures = 0
        self.ctx.security_event(
            "ReconfigurationOfSecurityParameters", f"SecurityProfile {old} -> {new}"
        )

    async def after_attempt(self, connected: bool) -> None:
        """Each dial's outcome: a connection ends the trial; too many failures fall back."""
        if self.fallback is None:
            return
        if connected:
            self.fallback = None
            await self.ctx.save_document(DOCUMENT_FALLBACK, None)
            return
        self._failures += 1
        if self._failures < SWITCH_ATTEMPTS:
            return
        await self._fall_back(self.fallback)

    async def _fall_back(self, old: int) -> None:
        new = self.ctx.config.get_int("SecurityProfile")
        if not await self.configuration.save("SecurityProfile", str(old)):
            return
        self.fallback = None
        await self.ctx.save_document(DOCUMENT_FALLBACK, None)
        _LOGGER.warning(
            "Security profile %s could not connect (%s): back to profile %s",
            new,
            self.connection.last_error,
            old,
        )
        self.ctx.security_event(
            "ReconfigurationOfSecurityParameters",
            f"SecurityProfile {new} failed to connect, back to {old}",
        )
        self.ctx.emit("security_changed", security_profile=old, fallback=True)
        try:
            await self.connection.load_tls()
        except SettingsError as err:  # the supervisor must go on dialling
            _LOGGER.error("The TLS context of profile %s failed: %s", old, err)  # noqa: TRY400
