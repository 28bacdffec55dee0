"""Reservation profile messages from the CSMS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ocpp.v16.enums import Action

from ...services.registry import Services
from ...timestamps import parse_rfc3339


def _moment(text: str) -> datetime:
    """The schema has checked the format already."""
    moment = parse_rfc3339(text)
    if moment is None:
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    return moment


async def reserve_now(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    status = await services.reservations.reserve(
        payload["connectorId"],
        _moment(payload["expiryDate"]),
        payload["idTag"],
        payload.get("parentIdTag"),
        payload["reservationId"],
    )
    services.ctx.emit(
        "csms_request",
        kind="reservation",
        action="reserve",
        reservation_id=payload["reservationId"],
        connector_id=payload["connectorId"],
        id_tag=payload["idTag"],
        expiry_date=payload["expiryDate"],
        status=status,
    )
    return {"status": status}


async def cancel_reservation(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    cancelled = await services.reservations.cancel(payload["reservationId"])
    status = "Accepted" if cancelled else "Rejected"
    services.ctx.emit(
        "csms_request",
        kind="reservation",
        action="cancel",
        reservation_id=payload["reservationId"],
        status=status,
    )
    return {"status": status}


HANDLERS: dict[str, Callable[[Services, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    Action.reserve_now: reserve_now,
    Action.cancel_reservation: cancel_reservation,
}
