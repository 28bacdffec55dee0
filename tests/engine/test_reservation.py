"""Reservation profile (sections 3.12, 5.13) and authorization groups (section 3.10)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ChargePointEngine, ConnectionState
from tests.csms import TestCsms

from .conftest import EngineFactory


def soon(seconds: float = 600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def ready(csms: TestCsms, make_engine: EngineFactory, **kw: object) -> ChargePointEngine:
    engine = make_engine(csms.url, **kw)
    await engine.start()
    async with asyncio.timeout(15):
        while engine.state != ConnectionState.ACCEPTED:
            await asyncio.sleep(0.01)
    connectors = int(kw.get("number_of_connectors", 1))  # type: ignore[call-overload]
    for cid in range(connectors + 1):
        await csms.wait_for("StatusNotification", lambda p, c=cid: p["connector_id"] == c)
    return engine


async def reserve(
    csms: TestCsms, connector: int, tag: str, rid: int, parent: str | None = None, ttl: float = 600
) -> str:
    result = await csms.call(
        call.ReserveNow(
            connector_id=connector,
            expiry_date=soon(ttl),
            id_tag=tag,
            reservation_id=rid,
            parent_id_tag=parent,
        )
    )
    return str(result.status)


async def test_reserved_connector_admits_only_its_id_tag_and_reports_the_reservation(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await ready(csms, make_engine)
    assert await reserve(csms, 1, "OWNER", 7) == "Accepted"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Reserved")
    engine.set_plugged(1, True)
    assert await engine.swipe("STRANGER") == "no_connector"
    remote = await csms.call(call.RemoteStartTransaction(id_tag="STRANGER", connector_id=1))
    assert remote.status == "Rejected"
    assert await engine.swipe("owner") == "started"  # CiString20: any case
    start = await csms.wait_for("StartTransaction")
    assert start["reservation_id"] == 7
    assert engine.services.reservations.find(7) is None  # used up
    cancel = await csms.call(call.CancelReservation(reservation_id=7))
    assert cancel.status == "Rejected"


async def test_reserve_now_answers_per_connector_state(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await ready(csms, make_engine, number_of_connectors=2)
    engine.set_fault(1, "GroundFailure")
    assert await reserve(csms, 1, "A", 1) == "Faulted"
    engine.clear_fault(1)
    await csms.call(call.ChangeAvailability(connector_id=2, type="Inoperative"))
    assert await reserve(csms, 2, "A", 2) == "Unavailable"
    engine.set_plugged(1, True)
    assert await reserve(csms, 1, "A", 3) == "Occupied"  # a car is there
    engine.set_plugged(1, False)
    assert await reserve(csms, 1, "A", 4) == "Accepted"
    assert await reserve(csms, 1, "B", 5) == "Occupied"  # reserved for another id
    assert await reserve(csms, 1, "C", 4) == "Accepted"  # same id: replaced
    assert engine.connectors[1].reservation is not None
    assert engine.connectors[1].reservation.id_tag == "C"
    assert await reserve(csms, 9, "A", 6) == "Rejected"  # no such connector


async def test_a_reservation_expires_and_the_connector_is_available_again(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await ready(csms, make_engine)
    mark = len(csms.received)
    assert await reserve(csms, 1, "A", 1, ttl=0.4) == "Accepted"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Reserved", after=mark)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Available", after=mark)
    assert engine.connectors[1].reservation is None


async def test_a_reservation_for_the_group_admits_its_members(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    csms.parent_id_tag["MEMBER"] = "FLEET"
    engine = await ready(csms, make_engine)
    assert await reserve(csms, 1, "OTHER", 3, parent="FLEET") == "Accepted"
    engine.set_plugged(1, True)
    assert await engine.swipe("MEMBER") == "started"
    assert (await csms.wait_for("StartTransaction"))["reservation_id"] == 3


async def test_connector_zero_reservation_keeps_one_connector_free(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await ready(csms, make_engine, number_of_connectors=2)
    assert await reserve(csms, 0, "OWNER", 11) == "Accepted"
    engine.set_plugged(1, True)
    assert await engine.swipe("FIRST") == "started"  # connector 2 stays free for OWNER
    await csms.wait_for("StartTransaction")
    assert await engine.swipe("SECOND") == "no_connector"  # it would take the last one
    engine.set_plugged(2, True)
    assert await engine.swipe("OWNER") == "started"
    await csms.wait_for("StartTransaction", lambda p: p["id_tag"] == "OWNER")
    starts = csms.actions("StartTransaction")
    assert [s.get("reservation_id") for s in starts] == [None, 11]


async def test_reservations_survive_a_restart(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    journal = str(tmp_path / "journal.sqlite3")
    engine = await ready(csms, make_engine, queue_path=journal)
    assert await reserve(csms, 1, "A", 21) == "Accepted"
    await engine.stop()
    again = make_engine(csms.url, queue_path=journal)
    await again.start()
    reservation = again.connectors[1].reservation
    assert reservation is not None and reservation.reservation_id == 21
    assert again.connectors[1].status() == "Reserved"


async def test_another_id_tag_of_the_group_stops_the_transaction(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """Section 3.10: same parentIdTag (learnt from StartTransaction.conf / Authorize.conf)."""
    csms.parent_id_tag.update({"DRIVER": "FAMILY", "PARTNER": "FAMILY", "NEIGHBOUR": "OTHERS"})
    engine = await ready(csms, make_engine)
    engine.set_plugged(1, True)
    assert await engine.swipe("DRIVER") == "started"
    await csms.wait_for("StartTransaction")
    assert await engine.swipe("NEIGHBOUR") == "no_connector"
    assert engine.connectors[1].transaction is not None
    assert await engine.swipe("PARTNER") == "stopped"
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "Local"
    assert [a["id_tag"] for a in csms.actions("Authorize")] == ["DRIVER", "NEIGHBOUR", "PARTNER"]
