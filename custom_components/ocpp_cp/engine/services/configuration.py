"""Configuration keys: GetConfiguration, and ChangeConfiguration durable before Accepted."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..configuration import ChangeOutcome
from ..storage import EngineStorage
from .connectors import DOCUMENT_AVAILABILITY
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

DOCUMENT_CONFIGURATION = "configuration"
# Where releases before the journal kept these two (the HA Store / JSON files).
LEGACY_KEYS = (DOCUMENT_CONFIGURATION, DOCUMENT_AVAILABILITY)
SECURITY_KEYS = ("AuthorizationKey", "SecurityProfile")


class SecurityProfileSteps(Protocol):
    """SecurityProfile raises (the SecurityProfileService): what a profile lacks (None = it may
    be set), the previous profile made durable before the new one is written (undone if that
    write fails), and the trial started once the new one is committed."""

    def missing(self, wanted: int) -> str | None: ...

    async def upgrading(self, old: int, new: int) -> bool: ...

    async def not_upgraded(self) -> None: ...

    def upgraded(self, old: int, new: int) -> None: ...


class ConfigurationService:
    def __init__(self, ctx: EngineContext, legacy: EngineStorage) -> None:
        self.ctx = ctx
        self._legacy = legacy
        # Run after a security key changed and its answer is on the wire (reconnect).
        self.on_security_changed: Callable[[], Awaitable[None]] | None = None
        # Set by the composition root; without it SecurityProfile is never changed.
        self.security_profile: SecurityProfileSteps | None = None

    async def load(self, key: str) -> Any | None:
        """A settings document: the journal's, else what an older release stored elsewhere."""
        value = await self.ctx.journal.load_document(key)
        if value is None and key in LEGACY_KEYS:
            value = await self._legacy.async_load(key)
            if value is not None:
                await self.ctx.journal.save_document(key, value)
        return value

    async def restore(self) -> None:
        saved = await self.load(DOCUMENT_CONFIGURATION)
        config = self.ctx.config
        if isinstance(saved, dict):
            config.restore(saved)
        settings = self.ctx.settings
        for key, pinned in (
            ("HeartbeatInterval", settings.pinned_heartbeat_interval),
            ("MeterValueSampleInterval", settings.pinned_meter_interval),
        ):
            if pinned is not None:
                config.set_internal(key, str(pinned))

    def read(self, keys: list[str] | None) -> dict[str, Any]:
        known, unknown = self.ctx.config.read(keys)
        answer: dict[str, Any] = {"configurationKey": known}
        if unknown:
            answer["unknownKey"] = unknown
        return answer

    async def change(self, key: str, value: str) -> ChangeOutcome:
        """ChangeConfiguration: the new value is durable before Accepted, applied after."""
        key = self.ctx.config.canonical(key) or key
        settings = self.ctx.settings
        pinned = {
            "HeartbeatInterval": settings.pinned_heartbeat_interval,
            "MeterValueSampleInterval": settings.pinned_meter_interval,
        }
        if pinned.get(key) is not None:
            return ChangeOutcome.REJECTED
        if key == "SecurityProfile" and not self._security_profile_allowed(value):
            return ChangeOutcome.REJECTED
        config = self.ctx.config
        outcome, why, normalised = config.check(key, value)
        if why:
            shown = "***" if key == "AuthorizationKey" else value
            _LOGGER.info("ChangeConfiguration %s=%s: %s (%s)", key, shown, outcome, why)
        if outcome != ChangeOutcome.ACCEPTED:
            return outcome
        steps = self.security_profile if key == "SecurityProfile" else None
        old = config.get_int(key) if steps is not None else 0
        if steps is not None and not await steps.upgrading(old, int(normalised)):
            return ChangeOutcome.REJECTED
        if not await self.save(key, normalised):
            if steps is not None:
                await steps.not_upgraded()
            return ChangeOutcome.REJECTED
        if steps is not None:  # only now: a failed save leaves no trial and no event
            steps.upgraded(old, int(normalised))
        return outcome

    async def save(self, key: str, value: str) -> bool:
        """``key`` = ``value`` durable in the configuration document, then in force; False
        (nothing changed) when the journal failed."""
        config = self.ctx.config
        values = config.persistent_values()
        values[key] = value
        if not await self.ctx.save_document(DOCUMENT_CONFIGURATION, values):
            return False
        config.commit(key, value)
        return True

    def _security_profile_allowed(self, value: str) -> bool:
        try:
            wanted = int(value)
        except ValueError:
            return False
        steps = self.security_profile
        missing = "no security profile service" if steps is None else steps.missing(wanted)
        if missing is not None:
            _LOGGER.info("ChangeConfiguration SecurityProfile=%s: Rejected (%s)", wanted, missing)
        return missing is None

    @staticmethod
    def needs_reconnect(key: str) -> bool:
        return key in SECURITY_KEYS
