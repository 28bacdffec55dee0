"""Transactions: start, stop and restart recovery, each state change one journal commit.

The order is always: change in memory -> one commit (state + its messages) -> effects (events,
permission to charge). Taking charging permission away happens at once (the safe direction);
granting it waits for the StartTransaction commit. A transaction is stopped once: ``stopped``
in memory, ``ended`` in the journal, which no write ever sets back.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from ocpp.v16.enums import ReadingContext, Reason

from ..authorization import ACCEPTED, answered_status, parent_of
from ..connector import Connector, Transaction
from ..journal import JournalError, Outbound
from ..ocpp16.frames import OcppCallError
from ..ocpp16.validation import validate
from .context import EngineContext, iso

if TYPE_CHECKING:
    from .authorization import AuthorizationService
    from .connectors import ConnectorService
    from .delivery import TransactionDelivery
    from .limits import LimitService
    from .metering import MeteringService
    from .reservations import ReservationService

_LOGGER = logging.getLogger(__name__)

DOCUMENT_SHUTDOWN = "shutdown"


def message(action: str, payload: dict[str, Any]) -> Outbound:
    """A transaction message, checked against its schema once, before it is stored (it is
    sent from the journal as stored). One that fails is a bug of ours: logged, and still
    kept, because billing data is better late than lost."""
    check = dict(payload)
    if action != "StartTransaction":
        check.setdefault("transactionId", 0)  # added when it is sent
    try:
        validate(action, check, response=False, inbound=False)
    except OcppCallError as err:
        _LOGGER.error("Our %s breaks the schema: %s", action, err.description)  # noqa: TRY400
    return Outbound(str(uuid.uuid4()), action, payload)


class TransactionService:
    """Owns every transaction of the charge point, running or still being delivered."""

    def __init__(
        self,
        ctx: EngineContext,
        connectors: ConnectorService,
        delivery: TransactionDelivery,
        authorization: AuthorizationService,
    ) -> None:
        self.ctx = ctx
        self.connectors = connectors
        self.delivery = delivery
        self.authorization = authorization
        self.limits: LimitService
        self.metering: MeteringService
        self.reservations: ReservationService
        self.previous_shutdown: dict[str, Any] = {}
        connectors.on_plug_reported = self._resolve_restored
        connectors.on_plug_changed = self._plug_changed
        delivery.on_start_confirmed = self._start_confirmed
        delivery.on_start_discarded = self._start_discarded

    # -- starting ---------------------------------------------------------------------------

    async def begin(
        self, connector: Connector, id_tag: str, parent_id_tag: str | None = None
    ) -> bool:
        """Start now: durable with its StartTransaction before the car may charge.

        False when the connector is taken or reserved for someone else.
        """
        if connector.transaction is not None:
            return False
        allowed, reservation = self.reservations.admits(connector, id_tag, parent_id_tag)
        if not allowed:
            return False
        cid = connector.connector_id
        energy = self.ctx.readings[cid].energy_wh()
        tx = Transaction(
            connector_id=cid,
            id_tag=id_tag,
            meter_start=round(energy) if energy is not None else 0,
            started_at=self.ctx.now_stamp(),
        )
        tx.parent_id_tag = parent_id_tag
        connector.transaction = tx
        connector.pending_id_tag = connector.pending_parent_id_tag = None
        connector.finishing = False
        self.limits.transaction_starting(connector)
        tx.offered_amps = self.limits.allowed_amps(connector)
        tx.last_energy, tx.last_seen = energy, tx.started_at
        payload: dict[str, Any] = {
            "connectorId": cid,
            "idTag": id_tag,
            "meterStart": tx.meter_start,
            "timestamp": tx.started_at,
        }
        if reservation is not None:
            tx.reservation_id = payload["reservationId"] = reservation.reservation_id
        start = message("StartTransaction", payload)
        self.connectors.refresh(connector)  # Preparing ends; charging waits for the commit
        commit = self.ctx.persist(self.ctx.journal.start_transaction(cid, tx.to_dict(), start))
        try:
            tx.local_id, seq = await asyncio.shield(commit)
        except JournalError as err:
            self.ctx.storage_failed(err)
            tx.start_committed.set()
            tx.start_on_wire.set()  # nothing will be sent for it: let statuses go on
            if connector.transaction is tx:
                connector.transaction = None
                tx.stopped = True
                self.limits.transaction_ended(connector)
                self.connectors.refresh(connector)
            return False
        tx.durable = True
        tx.start_committed.set()
        self.delivery.transactions[tx.local_id] = tx
        self.delivery.appended(seq, start, tx.local_id)
        self.ctx.emit(
            "transaction",
            connector_id=cid,
            change="started",
            id_tag=id_tag,
            started_at=tx.started_at,
        )
        if reservation is not None:
            self.reservations.used(reservation)
        if connector.transaction is tx:
            self.connectors.refresh(connector)
            self.metering.start_sampler(connector)
        return True

    # -- stopping ---------------------------------------------------------------------------

    def end(
        self,
        connector: Connector,
        reason: Reason,
        *,
        stamp: str | None = None,
        energy: float | None = None,
        id_tag: str | None = None,
    ) -> None:
        """End it now; ``stamp``/``energy`` override for one that ended while we were down,
        ``id_tag`` is who asked for the stop when not the one who started (section 6.49)."""
        tx = connector.transaction
        if tx is None or tx.stopped:
            return
        tx.stopped = True
        connector.transaction = None
        connector.finishing = connector.plugged
        self.limits.transaction_ended(connector)
        self.metering.stop_sampler(connector)
        if energy is None:
            energy = self.ctx.readings[connector.connector_id].energy_wh()
        meter_stop = max(tx.meter_start, round(energy)) if energy is not None else tx.meter_start
        stamp = stamp or self.ctx.now_stamp()
        payload: dict[str, Any] = {
            "meterStop": meter_stop,
            "timestamp": stamp,
            "reason": reason,
            "idTag": id_tag or tx.id_tag,
        }
        end_values = self.metering.stop_txn_values(connector, ReadingContext.transaction_end)
        data = list(tx.transaction_data)
        if end_values:
            data.append({"timestamp": stamp, "sampledValue": end_values})
        if data:
            payload["transactionData"] = data
        self.connectors.apply_scheduled(connector)
        self.connectors.refresh(connector)  # permission goes at once
        self.ctx.persist(self._stop_durably(tx, payload, str(reason), meter_stop), "stop")

    async def _stop_durably(
        self, tx: Transaction, payload: dict[str, Any], reason: str, meter_stop: int
    ) -> None:
        await tx.start_committed.wait()
        if not tx.durable:
            return
        stop = message("StopTransaction", payload)
        try:
            seq = await self.ctx.journal.stop_transaction(tx.local_id, tx.to_dict(), stop)
        except JournalError as err:
            self.ctx.storage_failed(err)
            return
        if seq is None:
            _LOGGER.warning("Transaction %s had already ended in the journal", tx.local_id)
            return
        self.delivery.appended(seq, stop, tx.local_id)
        self.ctx.emit(
            "transaction",
            connector_id=tx.connector_id,
            change="stopped",
            reason=reason,
            meter_start=tx.meter_start,
            meter_stop=meter_stop,
            transaction_id=tx.transaction_id,
            started_at=tx.started_at,
        )

    async def record(self, tx: Transaction, message: Outbound | None) -> bool:
        """A running transaction's new state and maybe a MeterValues, in one commit."""
        if tx.stopped or not tx.durable:
            return False
        await self.delivery.make_room()
        try:
            seq = await self.ctx.journal.record(tx.local_id, tx.to_dict(), message)
        except JournalError as err:
            self.ctx.storage_failed(err)
            return False
        if seq is None:
            return False
        if seq and message is not None:
            self.delivery.appended(seq, message, tx.local_id)
        return True

    # -- the CSMS's answers -----------------------------------------------------------------

    async def _start_confirmed(self, tx: Transaction, result: dict[str, Any]) -> None:
        self.limits.transaction_id_known()
        info = result["idTagInfo"]
        status = answered_status(info)
        tx.parent_id_tag = parent_of(info) or tx.parent_id_tag
        self.authorization.remember(tx.id_tag, info)
        self.ctx.emit(
            "transaction",
            connector_id=tx.connector_id,
            change="confirmed",
            transaction_id=tx.transaction_id,
            id_tag_status=status,
            started_at=tx.started_at,
        )
        if status == ACCEPTED:
            return
        tx.deauthorized = True  # already so in the journal
        connector = self.ctx.connectors[tx.connector_id]
        if connector.transaction is not tx:
            return
        if self.ctx.config.get_bool("StopTransactionOnInvalidId"):
            self.end(connector, Reason.de_authorized)
        else:
            self.connectors.refresh(connector)

    async def _start_discarded(self, tx: Transaction) -> None:
        """The CSMS answered StartTransaction with errors every time: no unbilled charging."""
        tx.start_on_wire.set()
        self.ctx.emit(
            "transaction",
            connector_id=tx.connector_id,
            change="start_discarded",
            started_at=tx.started_at,
        )
        connector = self.ctx.connectors[tx.connector_id]
        if connector.transaction is tx:
            self.end(connector, Reason.de_authorized)

    # -- restart ----------------------------------------------------------------------------

    async def restore(self) -> None:
        """Running transactions and undelivered messages from before the restart."""
        previous = await self.ctx.journal.load_document(DOCUMENT_SHUTDOWN)
        self.previous_shutdown = previous if isinstance(previous, dict) else {}
        await self.ctx.journal.save_document(DOCUMENT_SHUTDOWN, {"clean": False})
        for stored in await self.ctx.journal.transactions():
            tx = Transaction.from_dict(stored.document)
            tx.local_id = stored.local_id
            tx.transaction_id = stored.transaction_id
            tx.start_discarded = stored.start_discarded
            tx.durable = True
            tx.start_committed.set()
            if tx.transaction_id is not None or tx.start_discarded:
                tx.start_on_wire.set()
            self.delivery.transactions[tx.local_id] = tx
            if stored.ended:
                tx.stopped = True
                continue
            connector = self.ctx.connectors.get(tx.connector_id)
            if connector is None or tx.connector_id == 0 or connector.transaction is not None:
                _LOGGER.warning("Stored transaction %s has no connector to run on", tx.local_id)
                self._end_unplaceable(tx)
                continue
            tx.restored = True
            connector.transaction = tx
            self.metering.start_sampler(connector)
        self.delivery.restored()

    def _end_unplaceable(self, tx: Transaction) -> None:
        meter_stop = max(tx.meter_start, round(tx.last_energy or 0))
        payload = {
            "meterStop": meter_stop,
            "timestamp": tx.last_seen or tx.started_at,
            "reason": Reason.power_loss,
            "idTag": tx.id_tag,
        }
        self.ctx.persist(
            self._stop_durably(tx, payload, str(Reason.power_loss), meter_stop), "stop"
        )
        tx.stopped = True

    def _resolve_restored(self, connector: Connector, plugged: bool) -> None:
        """First word from the hardware after a restart: the car is still there, or it left."""
        tx = connector.transaction
        if tx is None or not tx.restored:
            return
        tx.restored = False
        if plugged:
            self.ctx.emit(
                "transaction",
                connector_id=connector.connector_id,
                change="resumed",
                started_at=tx.started_at,
            )
            return
        clean = bool(self.previous_shutdown.get("clean"))
        at = self.previous_shutdown.get("at")
        stamp = iso(float(at)) if clean and isinstance(at, int | float) else tx.last_seen
        energy = self.ctx.readings[connector.connector_id].energy_wh()
        self.end(
            connector,
            Reason.reboot if clean else Reason.power_loss,
            stamp=stamp,
            energy=energy if energy is not None else tx.last_energy,
        )

    async def mark_clean_shutdown(self) -> None:
        await self.ctx.journal.save_document(DOCUMENT_SHUTDOWN, {"clean": True, "at": time.time()})

    # -- local and remote starts ------------------------------------------------------------

    def _plug_changed(self, connector: Connector, plugged: bool) -> None:
        if plugged:
            if connector.pending_id_tag is not None and connector.transaction is None:
                start = self.begin(
                    connector, connector.pending_id_tag, connector.pending_parent_id_tag
                )
                self.ctx.spawn(start, "start on plug")
            return
        config = self.ctx.config
        if connector.transaction is not None:
            if not config.get_bool("StopTransactionOnEVSideDisconnect"):
                return  # the transaction goes on, so the cable stays locked (section 9.1.25)
            self.end(connector, Reason.ev_disconnected)
        if config.get_bool("UnlockConnectorOnEVSideDisconnect"):
            self.ctx.spawn(self._unlock_quietly(connector.connector_id), "unlock on unplug")

    async def _unlock_quietly(self, connector_id: int) -> None:
        try:
            await self.ctx.hardware.unlock_connector(connector_id)
        except Exception:
            _LOGGER.exception("Unlocking connector %s failed", connector_id)

    async def swipe(self, id_tag: str, connector_id: int | None = None) -> str:
        """An RFID card at the reader: stop the session it (or its group) started, or start one.

        Section 3.10: another idTag stops a transaction when its parentIdTag (from the local
        list, the cache or Authorize.conf) is the transaction's.
        """
        connectors = self.ctx.connectors.values()
        for connector in connectors:
            tx = connector.transaction
            if tx is not None and tx.id_tag.lower() == id_tag.lower():
                self.end(connector, Reason.local)
                return "stopped"
        running = [c for c in connectors if c.transaction is not None]
        if not running and self.pick_connector(connector_id) is None:
            return "no_connector"
        check = await self.authorization.check(id_tag)
        group = check.parent_id_tag.lower() if check.parent_id_tag else None
        for connector in running:
            tx = connector.transaction
            if check.accepted and group and tx and (tx.parent_id_tag or "").lower() == group:
                self.end(connector, Reason.local, id_tag=id_tag)
                return "stopped"
        target = self.pick_connector(connector_id, id_tag, check.parent_id_tag)
        if target is None:
            return "no_connector"
        if not check.accepted:
            return "rejected"
        return await self._start_or_wait(target, id_tag, check.parent_id_tag)

    async def start_local(self, connector_id: int, id_tag: str) -> str:
        """A local start (HA service, button): authorise, then start or wait for the plug."""
        connector = self.ctx.connector(connector_id)
        if not connector.may_start():
            return "busy"
        check = await self.authorization.check(id_tag)
        if not check.accepted:
            return "rejected"
        if not self.reservations.admits(connector, id_tag, check.parent_id_tag)[0]:
            return "reserved"
        return await self._start_or_wait(connector, id_tag, check.parent_id_tag)

    def stop_local(self, connector_id: int, reason: Reason | str = Reason.local) -> bool:
        connector = self.ctx.connector(connector_id)
        if connector.transaction is None:
            return False
        self.end(connector, Reason(reason))
        return True

    def pick_connector(
        self, connector_id: int | None, id_tag: str | None = None, parent: str | None = None
    ) -> Connector | None:
        """A connector ``id_tag`` may start on (its reservations allowing), if any."""

        def admitted(connector: Connector) -> bool:
            return id_tag is None or self.reservations.admits(connector, id_tag, parent)[0]

        if connector_id is not None:
            connector = self.ctx.connectors.get(connector_id)
            if connector is None or not connector.may_start() or connector_id == 0:
                return None
            return connector if admitted(connector) else None
        free = [
            c
            for c in self.ctx.connectors.values()
            if c.may_start() and c.pending_id_tag is None and admitted(c)
        ]
        plugged = [c for c in free if c.plugged]
        candidates = plugged or free
        return candidates[0] if candidates else None

    async def _start_or_wait(self, connector: Connector, id_tag: str, parent: str | None) -> str:
        if connector.plugged:
            started = await self.begin(connector, id_tag, parent)
            return "started" if started else "rejected"
        self.hold_for(connector, id_tag, parent)
        self.ctx.spawn(self.expire_pending(connector, connector.pending_since), "timeout")
        return "waiting_for_plug"

    def hold_for(self, connector: Connector, id_tag: str, parent: str | None = None) -> None:
        """Keep the connector for ``id_tag`` until the car is plugged in or ConnectionTimeOut."""
        connector.pending_id_tag = id_tag
        connector.pending_parent_id_tag = parent
        connector.pending_since = time.monotonic()
        self.connectors.refresh(connector)

    async def expire_pending(self, connector: Connector, since: float) -> None:
        await asyncio.sleep(self.ctx.config.get_int("ConnectionTimeOut"))
        if connector.pending_id_tag is not None and connector.pending_since == since:
            connector.pending_id_tag = connector.pending_parent_id_tag = None
            if not connector.plugged:
                self.connectors.apply_scheduled(connector)
            self.connectors.refresh(connector)

    async def remote_start(self, connector: Connector, id_tag: str) -> None:
        """After RemoteStartTransaction was Accepted: authorise if so configured, then start."""
        since = connector.pending_since
        parent = connector.pending_parent_id_tag
        if self.ctx.config.get_bool("AuthorizeRemoteTxRequests"):
            check = await self.authorization.check(id_tag)
            if not check.accepted:
                connector.pending_id_tag = None
                self.connectors.refresh(connector)
                return
            parent = connector.pending_parent_id_tag = check.parent_id_tag or parent
        if connector.plugged:
            await self.begin(connector, id_tag, parent)
        else:
            await self.expire_pending(connector, since)

    def running(self, transaction_id: int) -> Connector | None:
        """The connector whose transaction the CSMS numbered ``transaction_id``."""
        for connector in self.ctx.connectors.values():
            tx = connector.transaction
            if tx is not None and transaction_id in (tx.transaction_id, tx.confirming_id):
                return connector
        return None
