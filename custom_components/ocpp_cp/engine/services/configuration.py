"""Configuration keys: GetConfiguration, and ChangeConfiguration durable before Accepted."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..configuration import ChangeOutcome
from ..settings import SecurityProfile
from ..storage import EngineStorage
from .connectors import DOCUMENT_AVAILABILITY
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

DOCUMENT_CONFIGURATION = "configuration"
# Where releases before the journal kept these two (the HA Store / JSON files).
LEGACY_KEYS = (DOCUMENT_CONFIGURATION, DOCUMENT_AVAILABILITY)
SECURITY_KEYS = ("AuthorizationKey", "SecurityProfile")


class ConfigurationService:
    def __init__(self, ctx: EngineContext, legacy: EngineStorage) -> None:
        self.ctx = ctx
        self._legacy = legacy
        # Run after a security key changed and its answer is on the wire (reconnect).
        self.on_security_changed: Callable[[], Awaitable[None]] | None = None
        # SecurityProfile raises: what a profile lacks (None = allowed), and the step that
        # makes the previous profile durable before the new one (the fallback).
        self.profile_missing: Callable[[int], str | None] | None = None
        self.before_profile_change: Callable[[int, int], Awaitable[bool]] | None = None

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
        if key == "SecurityProfile" and self.before_profile_change is not None:
            old = config.get_int(key)
            if not await self.before_profile_change(old, int(normalised)):
                return ChangeOutcome.REJECTED
        values = config.persistent_values()
        values[key] = normalised
        if not await self.ctx.save_document(DOCUMENT_CONFIGURATION, values):
            return ChangeOutcome.REJECTED
        config.commit(key, normalised)
        return outcome

    def _security_profile_allowed(self, value: str) -> bool:
        try:
            wanted = int(value)
        except ValueError:
            return False
        if self.profile_missing is not None:
            missing = self.profile_missing(wanted)
            if missing is not None:
                _LOGGER.info(
                    "ChangeConfiguration SecurityProfile=%s: Rejected (%s)", wanted, missing
                )
            return missing is None
        if wanted < self.ctx.config.get_int("SecurityProfile") or not 0 <= wanted <= 3:
            return False
        key = self.ctx.config.get("AuthorizationKey") or self.ctx.settings.authorization_key
        try:
            dataclasses.replace(
                self.ctx.settings, authorization_key=key, security_profile=SecurityProfile(wanted)
            )
        except ValueError:
            return False
        return True

    @staticmethod
    def needs_reconnect(key: str) -> bool:
        return key in SECURITY_KEYS
