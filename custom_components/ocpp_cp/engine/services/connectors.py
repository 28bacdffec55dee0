"""Connectors: the charger's inputs, StatusNotification, and availability (Operative or not)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus

from ..connector import Connector, Fault, Transaction
from ..hardware import EvState
from ..ocpp16.frames import OcppCallError
from ..ocpp16.rpc import NotConnectedError
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

DOCUMENT_AVAILABILITY = "availability"
SCHEDULED = "scheduled"
# A connector with a transaction reports one of these; they wait for its StartTransaction.
TRANSACTION_STATES = frozenset(
    {
        ChargePointStatus.charging,
        ChargePointStatus.suspended_ev,
        ChargePointStatus.suspended_evse,
    }
)


@dataclass(slots=True)
class StatusReport:
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_error_code: str | None
    # The transaction whose StartTransaction must be on the wire before this report.
    transaction: Transaction | None


class ConnectorService:
    """Keeps each connector's status current at the CSMS and applies availability changes."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self._queue: list[StatusReport] = []
        self._ready = asyncio.Event()
        # Called after a connector's inputs changed: the charging permission and limit.
        self.on_changed: Callable[[Connector], None] = lambda connector: None
        # Before a connector's status is computed (a reservation ends on a fault).
        self.on_refresh: Callable[[Connector], None] = lambda connector: None
        # Every plug report, before it is applied (a restored transaction resumes or ends).
        self.on_plug_reported: Callable[[Connector, bool], None] = lambda c, plugged: None
        # The car was plugged in or out (transactions start or end on it).
        self.on_plug_changed: Callable[[Connector, bool], None] = lambda c, plugged: None

    # -- inputs -----------------------------------------------------------------------------

    def set_plugged(self, connector_id: int, plugged: bool) -> None:
        connector = self.ctx.connector(connector_id)
        self.on_plug_reported(connector, plugged)
        if connector.plugged == plugged:
            return
        connector.plugged = plugged
        connector.finishing = False
        if not plugged:
            connector.ev_state = EvState.IDLE
        self.on_plug_changed(connector, plugged)
        if not plugged and connector.transaction is None:
            self.apply_scheduled(connector)  # the session being prepared is over
        self.refresh(connector)

    def set_ev_state(self, connector_id: int, state: EvState) -> None:
        connector = self.ctx.connector(connector_id)
        if connector.ev_state != state:
            connector.ev_state = state
            self.refresh(connector)

    def set_fault(
        self,
        connector_id: int,
        error_code: ChargePointErrorCode | str,
        info: str | None = None,
        *,
        blocking: bool = True,
        vendor_error_code: str | None = None,
    ) -> None:
        connector = self.ctx.connector(connector_id)
        connector.fault = Fault(ChargePointErrorCode(error_code), info, vendor_error_code, blocking)
        self.refresh(connector)

    # -- status -----------------------------------------------------------------------------

    def refresh(self, connector: Connector) -> None:
        self.on_refresh(connector)
        self.queue_status(connector)
        self.on_changed(connector)

    def refresh_all(self) -> None:
        for connector in self.ctx.connectors.values():
            self.refresh(connector)

    def queue_status(self, connector: Connector, *, force: bool = False) -> None:
        status = connector.status()
        error = connector.error_code
        if not force and (status, error) == (connector.last_sent_status, connector.last_sent_error):
            return
        connector.last_sent_status, connector.last_sent_error = status, error
        self.ctx.emit(
            "status", connector_id=connector.connector_id, status=status, error_code=error
        )
        if self.ctx.accepted.is_set():
            self._queue.append(self._report(connector))
            self._ready.set()

    def _report(self, connector: Connector) -> StatusReport:
        status = connector.status()
        return StatusReport(
            connector.connector_id,
            status,
            connector.error_code,
            connector.fault.info,
            connector.fault.vendor_error_code,
            connector.transaction if status in TRANSACTION_STATES else None,
        )

    def connected(self) -> None:
        """After every (re)connect: every connector's status, connector 0 included."""
        self._queue.clear()
        for connector in self.ctx.connectors.values():
            self.queue_status(connector, force=True)

    def disconnected(self) -> None:
        self._queue.clear()

    async def sender(self) -> None:
        """Send queued reports in order; a transaction state waits for its StartTransaction."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                report = self._queue.pop(0)
                if report.transaction is not None:
                    await report.transaction.start_on_wire.wait()
                await self.send(report)

    async def send_now(self, connector_id: int) -> None:
        """TriggerMessage(StatusNotification): the status as it is now."""
        report = self._report(self.ctx.connectors[connector_id])
        if report.transaction is not None:
            await report.transaction.start_on_wire.wait()
        await self.send(report)

    async def send(self, report: StatusReport) -> None:
        payload: dict[str, Any] = {
            "connectorId": report.connector_id,
            "errorCode": report.error_code,
            "status": report.status,
            "timestamp": self.ctx.now_stamp(),
        }
        if report.info:
            payload["info"] = report.info[:50]
        if report.vendor_error_code:
            payload["vendorErrorCode"] = report.vendor_error_code[:50]
        try:
            await self.ctx.call("StatusNotification", payload)
        except (TimeoutError, OcppCallError, NotConnectedError) as err:
            _LOGGER.info("StatusNotification failed: %s", err)

    # -- availability -----------------------------------------------------------------------

    def restore_availability(self, saved: Any) -> None:
        if not isinstance(saved, dict):
            return
        scheduled = saved.get(SCHEDULED)
        for key, operative in saved.items():
            if key.isdigit() and (connector := self.ctx.connectors.get(int(key))) is not None:
                connector.operative = bool(operative)
        for key, operative in (scheduled if isinstance(scheduled, dict) else {}).items():
            if key.isdigit() and (connector := self.ctx.connectors.get(int(key))) is not None:
                connector.scheduled_operative = bool(operative)

    def _availability_document(
        self, changes: dict[int, bool], scheduled: dict[int, bool] | None = None
    ) -> dict[str, Any]:
        """Each connector's availability, and the changes waiting for a session to end (a
        Scheduled answer is a promise too: it survives a restart)."""
        waiting = {
            c.connector_id: c.scheduled_operative
            for c in self.ctx.connectors.values()
            if c.scheduled_operative is not None and c.connector_id not in changes
        }
        waiting.update(scheduled or {})
        document: dict[str, Any] = {
            str(c.connector_id): changes.get(c.connector_id, c.operative)
            for c in self.ctx.connectors.values()
        }
        if waiting:
            document[SCHEDULED] = {str(k): v for k, v in waiting.items()}
        return document

    async def change_availability(self, connector_id: int, operative: bool) -> str | None:
        """ChangeAvailability: Accepted or Scheduled once durable; None for no such connector.

        A connector with a transaction, or being prepared for one (Preparing: plugged or
        authorised, no transaction yet), changes when that ends, like libocpp.
        """
        if connector_id not in self.ctx.connectors:
            return None
        targets = (
            list(self.ctx.connectors.values())
            if connector_id == 0
            else [self.ctx.connectors[connector_id]]
        )
        now: dict[int, bool] = {}
        scheduled: list[Connector] = []
        for connector in targets:
            busy = connector.transaction is not None or (
                connector.connector_id > 0 and connector.status() == ChargePointStatus.preparing
            )
            if busy and connector.operative != operative:
                scheduled.append(connector)
            else:
                now[connector.connector_id] = operative
        waiting = {c.connector_id: operative for c in scheduled}
        if not await self.ctx.save_document(
            DOCUMENT_AVAILABILITY, self._availability_document(now, waiting)
        ):
            return "Rejected"
        for connector in targets:
            if connector in scheduled:
                connector.scheduled_operative = operative
            else:
                connector.operative = operative
                connector.scheduled_operative = None
                self.refresh(connector)
        return "Scheduled" if scheduled else "Accepted"

    def apply_scheduled(self, connector: Connector) -> None:
        """The transaction ended: a ChangeAvailability that waited for it takes effect."""
        if connector.scheduled_operative is None:
            return
        connector.operative = connector.scheduled_operative
        connector.scheduled_operative = None
        self.ctx.persist(
            self.ctx.save_document(DOCUMENT_AVAILABILITY, self._availability_document({})),
            "availability",
        )
