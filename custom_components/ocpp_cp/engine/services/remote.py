"""Remote control: Reset, UnlockConnector, TriggerMessage and DataTransfer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.v16.enums import MessageTrigger, ReadingContext, Reason

from ..hardware import ResetKind, UnlockOutcome
from .boot import BootService
from .connection import ConnectionService
from .connectors import ConnectorService
from .context import EngineContext
from .delivery import TransactionDelivery
from .metering import MeteringService
from .transactions import TransactionService

_LOGGER = logging.getLogger(__name__)

type FollowUp = Callable[[], Awaitable[None]]


class RemoteService:
    def __init__(
        self,
        ctx: EngineContext,
        connection: ConnectionService,
        boot: BootService,
        connectors: ConnectorService,
        transactions: TransactionService,
        delivery: TransactionDelivery,
        metering: MeteringService,
    ) -> None:
        self.ctx = ctx
        self.connection = connection
        self.boot = boot
        self.connectors = connectors
        self.transactions = transactions
        self.delivery = delivery
        self.metering = metering

    async def reset(self, kind: ResetKind) -> None:
        """After Reset was Accepted: stop every transaction, flush, reset, boot again."""
        reason = Reason.hard_reset if kind == ResetKind.HARD else Reason.soft_reset
        # Logged (and queued) before the reset: the persisting wait below covers its commit.
        self.ctx.security_event("ResetOrReboot", f"{kind.value} reset requested by the CSMS")
        for connector in self.ctx.connectors.values():
            self.transactions.end(connector, reason)
        if self.ctx.persisting:
            await asyncio.wait(list(self.ctx.persisting), timeout=10)
        if self.ctx.accepted.is_set():  # give the StopTransactions a chance to go out
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.delivery.idle.wait(), 10)
        await self.ctx.hardware.reset(kind)
        self.boot.booted = False  # a reset is a reboot: BootNotification again
        self.connection.drop()

    async def unlock(self, connector_id: int) -> UnlockOutcome:
        connector = self.ctx.connectors.get(connector_id)
        if connector is None or connector_id == 0:
            return UnlockOutcome.NOT_SUPPORTED
        if connector_id in self.ctx.settings.connectors_without_lock:
            # A fixed cable has no lock to open: like libocpp, NotSupported, and a running
            # transaction goes on (stopping it would not free anything).
            return UnlockOutcome.NOT_SUPPORTED
        self.transactions.end(connector, Reason.unlock_command)
        try:
            outcome = await asyncio.wait_for(self.ctx.hardware.unlock_connector(connector_id), 10)
        except Exception:
            _LOGGER.exception("Unlock of connector %s failed", connector_id)
            outcome = UnlockOutcome.UNLOCK_FAILED
        return UnlockOutcome(outcome)

    def trigger(self, requested: str, connector_id: int | None) -> FollowUp | None:
        """TriggerMessage: the work to do once Accepted is on the wire; None = NotImplemented."""
        if requested == MessageTrigger.boot_notification:
            return self.boot.triggered
        if requested == MessageTrigger.heartbeat:
            return self.boot.send_heartbeat
        if requested == MessageTrigger.status_notification:
            ids = [connector_id] if connector_id is not None else list(self.ctx.connectors)

            async def statuses() -> None:
                for cid in ids:
                    await self.connectors.send_now(cid)

            return statuses
        if requested == MessageTrigger.meter_values:
            ids = [connector_id] if connector_id else list(self.ctx.connectors)[1:]

            async def meter_values() -> None:
                for cid in ids:
                    await self.metering.send_now(cid, ReadingContext.trigger)

            return meter_values
        return None  # the diagnostics and firmware statuses: their own services answer

    async def data_transfer(self, payload: dict[str, Any]) -> dict[str, Any]:
        reply = await self.ctx.hardware.data_transfer(
            payload["vendorId"], payload.get("messageId"), payload.get("data")
        )
        answer: dict[str, Any] = {"status": reply.status}
        if reply.data is not None:
            answer["data"] = reply.data
        return answer
