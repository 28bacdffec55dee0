"""One connector's inputs and transaction, and the OCPP status that follows from them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus

from .hardware import EvState
from .reservation import Reservation


@dataclass(slots=True)
class Transaction:
    """A running transaction; ``transaction_id`` is None until the CSMS has answered."""

    connector_id: int
    id_tag: str
    meter_start: int
    started_at: str
    transaction_id: int | None = None
    # Our own id for it, from the durable store, valid before the CSMS has answered.
    local_id: int = 0
    # Restored after a restart and not yet confirmed by the hardware (resume or end).
    restored: bool = False
    # Last energy register and time seen while it ran: meterStop after a power loss.
    last_energy: float | None = None
    last_seen: str | None = None
    # Set when StartTransaction.conf did not accept the idTag and the session is kept but paused.
    deauthorized: bool = False
    # The idTag's group (section 3.10): another idTag of it may stop this transaction.
    parent_id_tag: str | None = None
    # The reservation this transaction used (StartTransaction.reservationId).
    reservation_id: int | None = None
    # Current.Offered at the start, reported all along when the settings freeze it.
    offered_amps: float | None = None
    # Meter values for StopTransaction.transactionData (StopTxnSampledData / StopTxnAlignedData).
    transaction_data: list[dict[str, Any]] = field(default_factory=list)
    # The CSMS refused its StartTransaction every time (see the engine README).
    start_discarded: bool = False
    # Committed to the journal with its StartTransaction: only now may the car charge.
    durable: bool = False
    # Set once the start commit is over (whether it succeeded or not).
    start_committed: asyncio.Event = field(default_factory=asyncio.Event)
    # StartTransaction.req has been sent: status reports of the transaction may follow it.
    start_on_wire: asyncio.Event = field(default_factory=asyncio.Event)
    # Its StopTransaction has been produced (in memory); the journal guards it on disk.
    stopped: bool = False
    # The id of a StartTransaction.conf being committed: a RemoteStop naming it is answered.
    confirming_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "connector_id": self.connector_id,
            "id_tag": self.id_tag,
            "meter_start": self.meter_start,
            "started_at": self.started_at,
            "transaction_id": self.transaction_id,
            "deauthorized": self.deauthorized,
            "parent_id_tag": self.parent_id_tag,
            "reservation_id": self.reservation_id,
            "offered_amps": self.offered_amps,
            "last_energy": self.last_energy,
            "last_seen": self.last_seen,
            "transaction_data": self.transaction_data,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transaction:
        return cls(
            connector_id=int(data["connector_id"]),
            id_tag=str(data["id_tag"]),
            meter_start=int(data["meter_start"]),
            started_at=str(data["started_at"]),
            transaction_id=data.get("transaction_id"),
            deauthorized=bool(data.get("deauthorized", False)),
            parent_id_tag=data.get("parent_id_tag"),
            reservation_id=data.get("reservation_id"),
            offered_amps=data.get("offered_amps"),
            last_energy=data.get("last_energy"),
            last_seen=data.get("last_seen"),
            transaction_data=list(data.get("transaction_data", [])),
        )


@dataclass(slots=True)
class Fault:
    error_code: str = ChargePointErrorCode.no_error
    info: str | None = None
    vendor_error_code: str | None = None
    # A blocking fault makes the connector Faulted; a warning only rides along in the error code.
    blocking: bool = True


@dataclass(slots=True)
class Connector:
    connector_id: int
    plugged: bool = False
    ev_state: EvState = EvState.IDLE
    fault: Fault = field(default_factory=Fault)
    operative: bool = True
    # ChangeAvailability arrived during a transaction and is applied when it ends.
    scheduled_operative: bool | None = None
    transaction: Transaction | None = None
    # idTag authorised (remote start or swipe) while waiting for the car to be plugged in.
    pending_id_tag: str | None = None
    pending_parent_id_tag: str | None = None
    pending_since: float = 0.0
    # The last transaction ended while the cable was still plugged in.
    finishing: bool = False
    # What the hardware can do right now (cable, installation); None = settings' maximum.
    hardware_max_amps: float | None = None
    # The least current the hardware can offer (IEC 61851: 6 A); a limit below it pauses.
    hardware_min_amps: float | None = None
    # Charging paused because the limit in force is 0; the transaction stays open.
    paused: bool = False
    # ReserveNow for this connector, until it is used, cancelled or expires.
    reservation: Reservation | None = None
    last_sent_status: str | None = None
    last_sent_error: str | None = None

    def status(self) -> ChargePointStatus:
        if self.fault.error_code != ChargePointErrorCode.no_error and self.fault.blocking:
            return ChargePointStatus.faulted
        if self.connector_id == 0:
            return ChargePointStatus.available if self.operative else ChargePointStatus.unavailable
        if self.transaction is not None:
            if self.transaction.deauthorized or self.paused or not self.plugged:
                return ChargePointStatus.suspended_evse
            if self.ev_state == EvState.CHARGING:
                return ChargePointStatus.charging
            return ChargePointStatus.suspended_ev
        if not self.operative:
            return ChargePointStatus.unavailable
        if self.plugged:
            return ChargePointStatus.finishing if self.finishing else ChargePointStatus.preparing
        if self.pending_id_tag is not None:
            return ChargePointStatus.preparing
        if self.reservation is not None:
            return ChargePointStatus.reserved
        return ChargePointStatus.available

    @property
    def error_code(self) -> str:
        return self.fault.error_code

    def may_start(self) -> bool:
        """Free for a new transaction: operative, not faulted, none running."""
        return (
            self.connector_id > 0
            and self.operative
            and self.transaction is None
            and self.status() != ChargePointStatus.faulted
        )
