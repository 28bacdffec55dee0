"""Reservation profile: ReserveNow and CancelReservation (OCPP 1.6 edition 2, sections 3.11,
5.1, 5.13, 9.3)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Launch
from .harness import (
    Csms,
    answered,
    assert_in_order,
    begin,
    calls,
    conf,
    now_iso,
    req,
    statuses,
)


def reservation(
    reservation_id: int,
    id_tag: str = "RES",
    connector_id: int = 1,
    seconds: float = 120,
    parent: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": connector_id,
        "expiryDate": now_iso(seconds),
        "idTag": id_tag,
        "reservationId": reservation_id,
    }
    if parent is not None:
        payload["parentIdTag"] = parent
    return payload


async def reserve(csms: Csms, *args: Any, **kwargs: Any) -> str:
    status: str = (await csms.ask("ReserveNow", reservation(*args, **kwargs)))["status"]
    return status


async def cancel(csms: Csms, reservation_id: int) -> str:
    status: str = (await csms.ask("CancelReservation", {"reservationId": reservation_id}))["status"]
    return status


async def test_reserved_connector_starts_only_for_the_reserved_tag_with_the_reservation_id(
    csms: Csms, launch: Launch
) -> None:
    """ReserveNow on connector 1: Accepted, StatusNotification Reserved; another idTag cannot
    start there; the reserved idTag starts a transaction whose StartTransaction carries the
    reservationId, which ends the reservation (sections 5.13, 4.8, 4.9 A7, 6.45)."""
    sim = await launch()
    mark = csms.mark()
    assert await reserve(csms, 7) == "Accepted"
    await csms.wait(req("StatusNotification", connectorId=1, status="Reserved"), mark)
    ack = await sim.do("swipe OTHER 1")
    assert ack["result"] not in ("started", "waiting_for_plug"), ack
    await sim.do("plug 1")
    assert (await sim.do("swipe RES 1"))["result"] == "started"
    await csms.wait(answered("StartTransaction"), mark)
    frames = csms.since(mark)
    assert [f.payload["idTag"] for f in calls(frames, "StartTransaction")] == ["RES"]
    assert_in_order(
        frames,
        conf("ReserveNow", status="Accepted"),
        req("StatusNotification", connectorId=1, status="Reserved"),
        req("StartTransaction", connectorId=1, idTag="RES", reservationId=7),
    )
    assert await cancel(csms, 7) == "Rejected", "a used reservation is terminated"


async def test_reserved_connector_accepts_a_remote_start_for_the_reserved_tag(
    csms: Csms, launch: Launch
) -> None:
    """A reserved connector: RemoteStartTransaction for another idTag is Rejected, for the
    reserved idTag Accepted, and its StartTransaction carries the reservationId
    (sections 5.13, 5.11, 6.45)."""
    sim = await launch()
    mark = csms.mark()
    assert await reserve(csms, 8) == "Accepted"
    other = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "OTHER"})
    assert other == {"status": "Rejected"}
    result = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "RES"})
    assert result == {"status": "Accepted"}
    await sim.do("plug 1")
    await csms.wait(answered("StartTransaction"), mark)
    assert_in_order(
        csms.since(mark),
        conf("ReserveNow", status="Accepted"),
        conf("RemoteStartTransaction", status="Rejected"),
        conf("RemoteStartTransaction", status="Accepted"),
        req("StartTransaction", connectorId=1, idTag="RES", reservationId=8),
    )


async def test_reservation_expires_and_the_connector_becomes_available(
    csms: Csms, launch: Launch
) -> None:
    """A reservation whose expiryDate passes is terminated: StatusNotification Available, and
    it can no longer be cancelled (section 5.13)."""
    await launch()
    mark = csms.mark()
    assert await reserve(csms, 9, seconds=1.5) == "Accepted"
    reserved = await csms.wait(req("StatusNotification", connectorId=1, status="Reserved"), mark)
    available = await csms.wait(
        req("StatusNotification", connectorId=1, status="Available"), mark, timeout=5
    )
    assert 0.8 <= available.at - reserved.at <= 3.0
    assert await cancel(csms, 9) == "Rejected"


async def test_reserve_a_faulted_connector(csms: Csms, launch: Launch) -> None:
    """ReserveNow on a Faulted connector: Faulted (sections 5.13, 7.40)."""
    sim = await launch()
    mark = csms.mark()
    await sim.do("fault 1 GroundFailure")
    await csms.wait(req("StatusNotification", connectorId=1, status="Faulted"), mark)
    assert await reserve(csms, 10) == "Faulted"
    assert "Reserved" not in statuses(csms.since(mark), 1)


async def test_reserve_an_occupied_connector(csms: Csms, launch: Launch) -> None:
    """ReserveNow on an occupied connector: Occupied when it is reserved (another
    reservationId), when a car is plugged in (Preparing), and during a transaction
    (sections 5.13, 7.40)."""
    sim = await launch()
    assert await reserve(csms, 11, "FIRST") == "Accepted"
    assert await reserve(csms, 12, "SECOND") == "Occupied"
    assert await cancel(csms, 11) == "Accepted"
    await sim.do("plug 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Preparing"))
    assert await reserve(csms, 13) == "Occupied"
    await sim.do("unplug 1")
    await begin(csms, sim)
    assert await reserve(csms, 14) == "Occupied"


async def test_reserve_an_unavailable_connector(csms: Csms, launch: Launch) -> None:
    """ReserveNow on an Unavailable connector: Unavailable (sections 5.13, 7.40)."""
    await launch()
    result = await csms.ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert result == {"status": "Accepted"}
    await csms.wait(req("StatusNotification", connectorId=1, status="Unavailable"))
    assert await reserve(csms, 15) == "Unavailable"


async def test_reserve_connector_zero_keeps_a_connector_free_for_the_tag(
    csms: Csms, launch: Launch
) -> None:
    """ReserveConnectorZeroSupported is readonly true here: ReserveNow for connectorId 0 is
    Accepted without reserving a specific connector; others may start while one connector
    stays free, not on the last free one; the reserved idTag starts with the reservationId
    (sections 5.13, 3.11, 9.3 ReserveConnectorZeroSupported)."""
    sim = await launch(connectors=2)
    config = await csms.configuration("ReserveConnectorZeroSupported")
    assert config["ReserveConnectorZeroSupported"] == {
        "key": "ReserveConnectorZeroSupported",
        "readonly": True,
        "value": "true",
    }
    change = await csms.ask(
        "ChangeConfiguration", {"key": "ReserveConnectorZeroSupported", "value": "false"}
    )
    assert change == {"status": "Rejected"}
    mark = csms.mark()
    assert await reserve(csms, 16, connector_id=0) == "Accepted"
    await begin(csms, sim, "OTHER", 1)
    await sim.do("plug 2")
    await csms.wait(req("StatusNotification", connectorId=2, status="Preparing"), mark)
    ack = await sim.do("swipe THIRD 2")
    assert ack["result"] != "started", "the last free connector is kept for the reservation"
    assert (await sim.do("swipe RES 2"))["result"] == "started"
    await csms.wait(req("StartTransaction", idTag="RES"), mark)
    frames = csms.since(mark)
    assert "Reserved" not in statuses(frames), "connector 0 reserves no specific connector"
    assert [f.payload["idTag"] for f in calls(frames, "StartTransaction")] == ["OTHER", "RES"]
    assert_in_order(
        frames,
        conf("ReserveNow", status="Accepted"),
        req("StartTransaction", connectorId=1, idTag="OTHER"),
        req("StartTransaction", connectorId=2, idTag="RES", reservationId=16),
    )
    first = calls(frames, "StartTransaction")[0].payload
    assert "reservationId" not in first


async def test_cancel_reservation_makes_the_connector_available(csms: Csms, launch: Launch) -> None:
    """CancelReservation of an existing reservation: Accepted and the connector Available
    again; cancelling it once more is Rejected (sections 5.1, 6.6, 7.5)."""
    await launch()
    mark = csms.mark()
    assert await reserve(csms, 17) == "Accepted"
    await csms.wait(req("StatusNotification", connectorId=1, status="Reserved"), mark)
    assert await cancel(csms, 17) == "Accepted"
    await csms.wait(req("StatusNotification", connectorId=1, status="Available"), mark)
    assert await cancel(csms, 17) == "Rejected"


async def test_cancel_an_unknown_reservation_is_rejected(csms: Csms, launch: Launch) -> None:
    """CancelReservation of a reservationId the charge point does not have: Rejected
    (sections 5.1, 7.5)."""
    await launch()
    assert await cancel(csms, 999) == "Rejected"


async def test_reservation_with_a_parent_id_tag_admits_a_member_of_the_group(
    csms: Csms, launch: Launch
) -> None:
    """ReserveNow with a parentIdTag: another idTag whose parentIdTag (from Authorize.conf)
    matches may use the reservation; its StartTransaction carries the reservationId
    (sections 5.13, 3.10, 6.37)."""
    csms.id_tags = {"MEMBER": {"status": "Accepted", "parentIdTag": "FAMILY"}}
    sim = await launch()
    mark = csms.mark()
    assert await reserve(csms, 18, "OWNER", parent="FAMILY") == "Accepted"
    await sim.do("plug 1")
    assert (await sim.do("swipe MEMBER 1"))["result"] == "started"
    await csms.wait(answered("StartTransaction"), mark)
    assert_in_order(
        csms.since(mark),
        conf("ReserveNow", status="Accepted"),
        req("Authorize", idTag="MEMBER"),
        answered("Authorize", idTagInfo={"parentIdTag": "FAMILY"}),
        req("StartTransaction", connectorId=1, idTag="MEMBER", reservationId=18),
    )


async def test_reserve_now_with_the_same_id_replaces_the_reservation(
    csms: Csms, launch: Launch
) -> None:
    """ReserveNow with a reservationId the charge point has: the reservation is replaced, so
    only the new idTag may start (section 5.13)."""
    sim = await launch()
    mark = csms.mark()
    assert await reserve(csms, 19, "FIRST") == "Accepted"
    assert await reserve(csms, 19, "SECOND") == "Accepted"
    await sim.do("plug 1")
    ack = await sim.do("swipe FIRST 1")
    assert ack["result"] != "started", "the replaced reservation no longer admits FIRST"
    assert (await sim.do("swipe SECOND 1"))["result"] == "started"
    start = await csms.wait(req("StartTransaction"), mark)
    assert start.payload["idTag"] == "SECOND"
    assert start.payload.get("reservationId") == 19


@pytest.mark.parametrize("cause", ["Faulted", "Unavailable"])
async def test_reservation_ends_when_its_connector_becomes_faulted_or_unavailable(
    csms: Csms, launch: Launch, cause: str
) -> None:
    """A reservation is terminated when its connector is set to Faulted or Unavailable: once
    the connector is back it is Available, not Reserved, and the reservation cannot be
    cancelled any more (section 5.13: "A reservation SHALL be terminated ... (3) when the
    Charge Point or connector are set to Faulted or Unavailable")."""
    sim = await launch()
    mark = csms.mark()
    assert await reserve(csms, 20) == "Accepted"
    await csms.wait(req("StatusNotification", connectorId=1, status="Reserved"), mark)
    if cause == "Faulted":
        await sim.do("fault 1 GroundFailure")
    else:
        change = {"connectorId": 1, "type": "Inoperative"}
        assert (await csms.ask("ChangeAvailability", change))["status"] == "Accepted"
    await csms.wait(req("StatusNotification", connectorId=1, status=cause), mark)
    back = csms.mark()
    if cause == "Faulted":
        await sim.do("clear 1")
    else:
        change = {"connectorId": 1, "type": "Operative"}
        assert (await csms.ask("ChangeAvailability", change))["status"] == "Accepted"
    await csms.wait(req("StatusNotification", connectorId=1), back)
    await csms.quiet(0.2)
    seen = statuses(csms.since(mark), 1)
    assert seen == ["Reserved", cause, "Available"], (
        f"the reservation outlived the connector being {cause}: statuses {seen}"
    )
    assert await cancel(csms, 20) == "Rejected"
