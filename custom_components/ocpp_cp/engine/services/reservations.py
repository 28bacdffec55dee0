"""Reservation profile (sections 3.12, 5.13, 6.x): ReserveNow, CancelReservation, expiry.

A reservation is durable before ReserveNow is answered Accepted. A connector reservation makes
the connector Reserved and admits only the reserved idTag or its group; a reservation of
connector 0 admits that idTag on any connector and lets others start only while another
connector stays free for it. The transaction that uses a reservation carries its id in
StartTransaction and ends it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from ocpp.v16.enums import ChargePointStatus

from ..connector import Connector
from ..reservation import Reservation
from .connectors import ConnectorService
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

DOCUMENT_RESERVATIONS = "reservations"


class ReservationService:
    def __init__(self, ctx: EngineContext, connectors: ConnectorService) -> None:
        self.ctx = ctx
        self.connectors = connectors
        # A reservation of connector 0: the charge point as a whole.
        self.charge_point: Reservation | None = None
        self._timers: dict[int, asyncio.TimerHandle] = {}
        connectors.on_refresh = self._connector_changed

    def _connector_changed(self, connector: Connector) -> None:
        """Section 5.13: a reservation ends when its connector becomes Faulted or
        Unavailable (it does not come back with the connector)."""
        reservation = connector.reservation
        if reservation is None:
            return
        faulted = connector.status() == ChargePointStatus.faulted
        if not faulted and connector.operative:
            return
        connector.reservation = None  # before the status is sent: never Reserved again
        timer = self._timers.pop(reservation.reservation_id, None)
        if timer is not None:
            timer.cancel()
        self.ctx.persist(
            self.ctx.save_document(
                DOCUMENT_RESERVATIONS, self._document(reservation.reservation_id, None)
            ),
            "reservations",
        )
        self.ctx.emit("reservation", change="ended", **reservation.to_dict())

    def all(self) -> list[Reservation]:
        found = [c.reservation for c in self.ctx.connectors.values() if c.reservation]
        if self.charge_point is not None:
            found.append(self.charge_point)
        return found

    def find(self, reservation_id: int) -> Reservation | None:
        return next((r for r in self.all() if r.reservation_id == reservation_id), None)

    async def restore(self) -> None:
        saved = await self.ctx.journal.load_document(DOCUMENT_RESERVATIONS)
        if not isinstance(saved, list):
            return
        now = self.ctx.now()
        for item in saved:
            try:
                reservation = Reservation.from_dict(item)
            except (KeyError, TypeError, ValueError) as err:
                _LOGGER.warning("Stored reservation unreadable, dropped: %s", err)
                continue
            connector = self.ctx.connectors.get(reservation.connector_id)
            used = connector is not None and any(
                c.transaction is not None
                and c.transaction.reservation_id == reservation.reservation_id
                for c in self.ctx.connectors.values()
            )
            if connector is None or used or reservation.expiry <= now:
                continue  # used by a transaction or expired while we were down
            self._place(reservation)

    def _place(self, reservation: Reservation) -> None:
        if reservation.connector_id == 0:
            self.charge_point = reservation
        else:
            self.ctx.connectors[reservation.connector_id].reservation = reservation
        delay = max(0.0, (reservation.expiry - self.ctx.now()).total_seconds())
        loop = asyncio.get_running_loop()
        self._timers[reservation.reservation_id] = loop.call_later(
            delay, self._expired, reservation.reservation_id
        )

    def _unplace(self, reservation: Reservation) -> None:
        timer = self._timers.pop(reservation.reservation_id, None)
        if timer is not None:
            timer.cancel()
        if reservation.connector_id == 0:
            if self.charge_point is reservation:
                self.charge_point = None
            return
        connector = self.ctx.connectors[reservation.connector_id]
        if connector.reservation is reservation:
            connector.reservation = None
        self.connectors.refresh(connector)

    def _document(self, without: int | None, adding: Reservation | None) -> list[dict[str, Any]]:
        kept = [r for r in self.all() if r.reservation_id != without]
        if adding is not None:
            kept.append(adding)
        return [r.to_dict() for r in kept]

    # -- ReserveNow / CancelReservation -----------------------------------------------------

    def _refusal(self, connector: Connector, replacing: Reservation | None) -> str | None:
        """Why a connector cannot take a reservation now (the ReserveNow status), if it can't."""
        if connector.status() == ChargePointStatus.faulted:
            return "Faulted"
        if not connector.operative:
            return "Unavailable"
        held = connector.reservation is not None and connector.reservation is not replacing
        if connector.transaction is not None or connector.plugged or held:
            return "Occupied"
        if connector.pending_id_tag is not None:
            return "Occupied"
        return None

    async def reserve(
        self,
        connector_id: int,
        expiry: datetime,
        id_tag: str,
        parent_id_tag: str | None,
        reservation_id: int,
    ) -> str:
        """ReserveNow: Accepted once durable, else Faulted / Occupied / Rejected / Unavailable."""
        if connector_id not in self.ctx.connectors or expiry <= self.ctx.now():
            return "Rejected"
        replacing = self.find(reservation_id)
        if connector_id == 0:
            if not self.ctx.config.get_bool("ReserveConnectorZeroSupported"):
                return "Rejected"
            if self.charge_point is not None and self.charge_point is not replacing:
                return "Occupied"
            refusals = [
                self._refusal(c, replacing) for c in self.ctx.connectors.values() if c.connector_id
            ]
            if None not in refusals:
                return next((r for r in ("Occupied", "Unavailable") if r in refusals), "Faulted")
        else:
            refusal = self._refusal(self.ctx.connectors[connector_id], replacing)
            if refusal is not None:
                return refusal
        reservation = Reservation(reservation_id, connector_id, id_tag, expiry, parent_id_tag)
        document = self._document(reservation_id, reservation)
        if not await self.ctx.save_document(DOCUMENT_RESERVATIONS, document):
            return "Rejected"
        if replacing is not None:
            self._unplace(replacing)
        self._place(reservation)
        if connector_id:
            self.connectors.refresh(self.ctx.connectors[connector_id])
        self.ctx.emit("reservation", change="reserved", **reservation.to_dict())
        return "Accepted"

    async def cancel(self, reservation_id: int) -> bool:
        """CancelReservation: True once the reservation is gone for good."""
        reservation = self.find(reservation_id)
        if reservation is None:
            return False
        if not await self.ctx.save_document(
            DOCUMENT_RESERVATIONS, self._document(reservation_id, None)
        ):
            return False
        self._unplace(reservation)
        self.ctx.emit("reservation", change="cancelled", **reservation.to_dict())
        return True

    def _expired(self, reservation_id: int) -> None:
        reservation = self.find(reservation_id)
        if reservation is None:
            return
        self._timers.pop(reservation_id, None)
        self._unplace(reservation)
        self.ctx.persist(
            self.ctx.save_document(DOCUMENT_RESERVATIONS, self._document(reservation_id, None)),
            "reservations",
        )
        self.ctx.emit("reservation", change="expired", **reservation.to_dict())

    # -- starting on a reserved connector ---------------------------------------------------

    def admits(
        self, connector: Connector, id_tag: str, parent_id_tag: str | None
    ) -> tuple[bool, Reservation | None]:
        """May ``id_tag`` start on ``connector``, and which reservation it would use."""
        reservation = connector.reservation
        if reservation is not None:
            allowed = reservation.admits(id_tag, parent_id_tag)
            return allowed, reservation if allowed else None
        whole = self.charge_point
        if whole is None:
            return True, None
        if whole.admits(id_tag, parent_id_tag):
            return True, whole
        others = [
            c
            for c in self.ctx.connectors.values()
            if c.connector_id and c is not connector and self._refusal(c, None) is None
        ]
        return bool(others), None  # someone else may start while a connector stays free

    def used(self, reservation: Reservation) -> None:
        """Its transaction has started: the reservation has done its job."""
        if self.find(reservation.reservation_id) is not reservation:
            return
        self._unplace(reservation)
        self.ctx.persist(
            self.ctx.save_document(
                DOCUMENT_RESERVATIONS, self._document(reservation.reservation_id, None)
            ),
            "reservations",
        )
        self.ctx.emit("reservation", change="used", **reservation.to_dict())

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
