"""Boot and heartbeat: BootNotification until Accepted, then Heartbeat, and the CSMS's clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from ocpp.v16.enums import RegistrationStatus

from ..connection import ConnectionState
from ..ocpp16.frames import OcppCallError
from ..ocpp16.rpc import NotConnectedError
from ..timestamps import parse_rfc3339
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

BOOT_RETRY_DEFAULT = 30


class BootService:
    def __init__(self, ctx: EngineContext, set_state: Callable[..., None]) -> None:
        self.ctx = ctx
        self._set_state = set_state
        # False until the CSMS accepts us after a (re)boot; a reset sets it back.
        self.booted = False
        # The last BootNotification answer's status (Pending: no remote start or stop).
        self.registration: str | None = None
        self.last_heartbeat: float | None = None
        self.csms_time_offset: float | None = None
        self.wake = asyncio.Event()
        self.heartbeat_changed = asyncio.Event()
        # Called once the CSMS has accepted us (logging that it is back).
        self.on_accepted: Callable[[], None] = lambda: None

    @property
    def pending(self) -> bool:
        """BootNotification answered Pending (section 4.2): remote start/stop are Rejected."""
        return self.registration == RegistrationStatus.pending and not self.booted

    def payload(self) -> dict[str, Any]:
        settings = self.ctx.settings
        payload: dict[str, Any] = {
            "chargePointVendor": settings.vendor[:20],
            "chargePointModel": settings.model[:20],
        }
        if settings.serial_number:
            payload["chargePointSerialNumber"] = settings.serial_number[:25]
            # The deprecated field too: SteVe and OCTT-style tools read it (libocpp sends both).
            payload["chargeBoxSerialNumber"] = settings.serial_number[:25]
        if settings.firmware_version:
            payload["firmwareVersion"] = settings.firmware_version[:50]
        return payload

    async def boot(self) -> None:
        """BootNotification until Accepted; Pending and Rejected retry after ``interval``."""
        while True:
            self._set_state(ConnectionState.BOOTING)
            self.wake.clear()
            retry = BOOT_RETRY_DEFAULT
            try:
                result = await self.ctx.call("BootNotification", self.payload())
            except (TimeoutError, OcppCallError) as err:
                self._set_state(
                    ConnectionState.BOOTING,
                    f"the CSMS did not answer BootNotification ({err or 'timeout'})",
                )
            else:
                self.note_csms_time(result.get("currentTime"))
                status = result["status"]
                self.registration = status
                retry = int(result.get("interval") or 0) or BOOT_RETRY_DEFAULT
                if status == RegistrationStatus.accepted:
                    self.apply_interval(int(result.get("interval") or 0))
                    self.booted = True
                    self.on_accepted()
                    self._set_state(ConnectionState.ACCEPTED, clear_error=True)
                    return
                if status == RegistrationStatus.pending:
                    self._set_state(ConnectionState.PENDING)
                else:
                    self._set_state(
                        ConnectionState.REJECTED, "the CSMS rejected the BootNotification"
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), retry)

    async def triggered(self) -> None:
        """TriggerMessage(BootNotification)."""
        if not self.booted:
            self.wake.set()
            return
        try:
            result = await self.ctx.call("BootNotification", self.payload())
        except (TimeoutError, OcppCallError, NotConnectedError) as err:
            _LOGGER.info("Triggered BootNotification failed: %s", err)
            return
        if result["status"] == RegistrationStatus.accepted:
            self.apply_interval(int(result.get("interval") or 0))

    def apply_interval(self, interval: int) -> None:
        pinned = self.ctx.settings.pinned_heartbeat_interval
        if pinned is not None:
            interval = pinned
        if interval > 0:
            self.ctx.config.set_internal("HeartbeatInterval", str(interval))
            self.heartbeat_changed.set()

    def note_csms_time(self, value: Any) -> None:
        csms = parse_rfc3339(value)
        if csms is not None:
            self.csms_time_offset = csms.timestamp() - time.time()

    async def heartbeat_loop(self) -> None:
        await self.ctx.every("HeartbeatInterval", self.heartbeat_changed, self.send_heartbeat)

    async def send_heartbeat(self) -> None:
        try:
            result = await self.ctx.call("Heartbeat", {})
        except (TimeoutError, OcppCallError, NotConnectedError) as err:
            _LOGGER.info("Heartbeat failed: %s", err)
            return
        self.last_heartbeat = time.time()
        self.note_csms_time(result.get("currentTime"))
        self.ctx.emit("heartbeat", at=self.last_heartbeat)
