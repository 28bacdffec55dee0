"""Core profile: UnlockConnector and ChangeAvailability (OCPP 1.6 edition 2)."""

from __future__ import annotations

from pathlib import Path

from .conftest import Launch
from .harness import (
    Csms,
    answered,
    assert_in_order,
    begin,
    calls,
    conf,
    req,
    statuses,
)


async def test_unlock_connector_with_a_transaction_stops_it_then_unlocks(
    csms: Csms, launch: Launch
) -> None:
    """UnlockConnector during a transaction on a connector with a lock: the transaction is
    finished first (StopTransaction reason UnlockCommand, energy off before the lock opens),
    then Unlocked (sections 5.18, 4.10, 7.36, 7.46)."""
    sim = await launch()
    transaction_id = await begin(csms, sim)
    mark, events = csms.mark(), sim.mark()
    result = await csms.ask("UnlockConnector", {"connectorId": 1})
    assert result == {"status": "Unlocked"}
    await csms.wait(answered("StopTransaction"), mark)
    assert_in_order(
        csms.since(mark),
        req("StopTransaction", transactionId=transaction_id, reason="UnlockCommand"),
        answered("StopTransaction"),
    )
    assert any(conf("UnlockConnector", status="Unlocked")(f) for f in csms.since(mark))
    off = sim.find("hardware", events, action="charging_permitted", connector_id=1, permitted=False)
    unlock = sim.find("hardware", events, action="unlock", connector_id=1)
    assert off and unlock, "energy switched off and the lock opened"
    assert sim.events.index(off[0]) < sim.events.index(unlock[0]), "finish the transaction first"


async def test_unlock_connector_without_a_transaction_unlocks(csms: Csms, launch: Launch) -> None:
    """UnlockConnector on an idle connector with a lock: Unlocked, no transaction message
    (sections 5.18, 7.46)."""
    sim = await launch()
    mark, events = csms.mark(), sim.mark()
    result = await csms.ask("UnlockConnector", {"connectorId": 1})
    assert result == {"status": "Unlocked"}
    await sim.wait_event("hardware", events, action="unlock", connector_id=1)
    assert not calls(csms.since(mark), "StopTransaction")


async def test_unlock_connector_without_a_lock_is_not_supported(csms: Csms, launch: Launch) -> None:
    """A connector with a fixed cable (no lock): UnlockConnector is NotSupported, nothing is
    unlocked, and a running transaction goes on (sections 5.18, 7.46)."""
    sim = await launch("--no-lock", "1")
    mark, events = csms.mark(), sim.mark()
    result = await csms.ask("UnlockConnector", {"connectorId": 1})
    assert result == {"status": "NotSupported"}
    transaction_id = await begin(csms, sim)
    again = await csms.ask("UnlockConnector", {"connectorId": 1})
    assert again == {"status": "NotSupported"}
    await csms.quiet(0.3)
    assert not calls(csms.since(mark), "StopTransaction")
    assert not sim.find("hardware", events, action="unlock")
    stop = await csms.ask("RemoteStopTransaction", {"transactionId": transaction_id})
    assert stop == {"status": "Accepted"}, "the transaction was still running"


async def test_unlock_unknown_connector_is_not_supported(csms: Csms, launch: Launch) -> None:
    """UnlockConnector for a connectorId the charge point does not have: NotSupported
    (sections 5.18, 7.46)."""
    await launch()
    result = await csms.ask("UnlockConnector", {"connectorId": 7})
    assert result == {"status": "NotSupported"}


async def test_change_availability_of_an_idle_connector(csms: Csms, launch: Launch) -> None:
    """ChangeAvailability Inoperative on an idle connector: Accepted and StatusNotification
    Unavailable; it then refuses a remote start; asking again for the state it is in is
    Accepted; Operative makes it Available again (sections 5.2, 4.9 A8, 7.3)."""
    sim = await launch()
    mark = csms.mark()
    result = await csms.ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert result == {"status": "Accepted"}
    await csms.wait(req("StatusNotification", connectorId=1, status="Unavailable"), mark)
    remote = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "TAG1"})
    assert remote == {"status": "Rejected"}
    same = await csms.ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert same == {"status": "Accepted"}
    back = await csms.ask("ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    assert back == {"status": "Accepted"}
    await csms.wait(req("StatusNotification", connectorId=1, status="Available"), mark)
    assert not calls(csms.since(mark), "StartTransaction")
    assert_in_order(
        csms.since(mark),
        conf("ChangeAvailability", status="Accepted"),
        req("StatusNotification", connectorId=1, status="Unavailable"),
        conf("RemoteStartTransaction", status="Rejected"),
        conf("ChangeAvailability", status="Accepted"),
        conf("ChangeAvailability", status="Accepted"),
        req("StatusNotification", connectorId=1, status="Available"),
    )
    assert statuses(csms.since(mark), 1) == ["Unavailable", "Available"]
    assert sim.process.returncode is None


async def test_change_availability_during_a_transaction_is_scheduled(
    csms: Csms, launch: Launch
) -> None:
    """ChangeAvailability Inoperative during a transaction: Scheduled, the transaction goes
    on, and the connector becomes Unavailable once it has ended (sections 5.2, 4.9 C8/D8)."""
    sim = await launch()
    transaction_id = await begin(csms, sim)
    mark = csms.mark()
    result = await csms.ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert result == {"status": "Scheduled"}
    await csms.quiet(0.3)
    assert "Unavailable" not in statuses(csms.since(mark), 1)
    assert not calls(csms.since(mark), "StopTransaction")
    await sim.do("unplug 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Unavailable"), mark)
    await csms.wait(answered("StopTransaction"), mark)
    assert_in_order(
        csms.since(mark),
        conf("ChangeAvailability", status="Scheduled"),
        req("StopTransaction", transactionId=transaction_id),
    )
    assert "Available" not in statuses(csms.since(mark), 1)


async def test_change_availability_while_preparing_is_scheduled(csms: Csms, launch: Launch) -> None:
    """ChangeAvailability Inoperative on a Preparing connector (plugged in, no transaction):
    Scheduled, applied when the session being prepared ends (sections 5.2, 4.9)."""
    sim = await launch()
    mark = csms.mark()
    await sim.do("plug 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Preparing"), mark)
    result = await csms.ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert result == {"status": "Scheduled"}
    await csms.quiet(0.3)
    assert statuses(csms.since(mark), 1) == ["Preparing"]
    await sim.do("unplug 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Unavailable"), mark)
    assert statuses(csms.since(mark), 1) == ["Preparing", "Unavailable"]


async def test_change_availability_of_the_whole_charge_point(csms: Csms, launch: Launch) -> None:
    """ChangeAvailability for connectorId 0 applies to the charge point and all connectors:
    each reports Unavailable, and Operative brings them all back (sections 5.2, 3.8)."""
    await launch(connectors=2)
    mark = csms.mark()
    result = await csms.ask("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    assert result == {"status": "Accepted"}
    for connector_id in (0, 1, 2):
        await csms.wait(
            req("StatusNotification", connectorId=connector_id, status="Unavailable"), mark
        )
    back = csms.mark()
    result = await csms.ask("ChangeAvailability", {"connectorId": 0, "type": "Operative"})
    assert result == {"status": "Accepted"}
    for connector_id in (0, 1, 2):
        await csms.wait(
            req("StatusNotification", connectorId=connector_id, status="Available"), back
        )


async def test_change_availability_of_an_unknown_connector_is_rejected(
    csms: Csms, launch: Launch
) -> None:
    """ChangeAvailability for a connectorId the charge point does not have: Rejected
    (sections 5.2, 7.3)."""
    await launch()
    result = await csms.ask("ChangeAvailability", {"connectorId": 5, "type": "Inoperative"})
    assert result == {"status": "Rejected"}


async def test_unavailable_connector_stays_unavailable_after_a_restart(
    csms: Csms, launch: Launch, tmp_path: Path
) -> None:
    """Persistent state: a connector set to Unavailable is still Unavailable after the charge
    point restarts (sections 5.2, 5.14)."""
    state = tmp_path / "persistent"
    sim = await launch(state_dir=state)
    result = await csms.ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert result == {"status": "Accepted"}
    await csms.wait(req("StatusNotification", connectorId=1, status="Unavailable"))
    await sim.kill()
    mark = csms.mark()
    await launch(state_dir=state)
    frames = csms.since(mark)
    assert_in_order(
        frames,
        req("BootNotification"),
        req("StatusNotification", connectorId=1, status="Unavailable"),
    )
    assert "Available" not in statuses(frames, 1)


async def test_a_fault_is_reported_with_its_error_code_and_cleared(
    csms: Csms, launch: Launch
) -> None:
    """A fault that prevents charging: StatusNotification Faulted with its errorCode; a remote
    start is refused meanwhile; once cleared, Available with NoError (sections 4.9 A9/I1,
    7.6, 7.7)."""
    sim = await launch()
    mark = csms.mark()
    await sim.do("fault 1 GroundFailure")
    await csms.wait(req("StatusNotification", connectorId=1, status="Faulted"), mark)
    remote = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "TAG1"})
    assert remote == {"status": "Rejected"}
    await sim.do("clear 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Available"), mark)
    assert_in_order(
        csms.since(mark),
        req("StatusNotification", connectorId=1, status="Faulted", errorCode="GroundFailure"),
        req("StatusNotification", connectorId=1, status="Available", errorCode="NoError"),
    )
