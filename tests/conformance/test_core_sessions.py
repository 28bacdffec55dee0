"""Core profile: charging sessions started locally and remotely, stopped by the same tag, by
a tag of the same group, remotely, and refused tags (OCPP 1.6 edition 2)."""

from __future__ import annotations

import pytest

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


async def test_plug_first_session_started_by_swipe_and_stopped_by_the_same_tag(
    csms: Csms, launch: Launch
) -> None:
    """Regular session, cable first: Preparing, Authorize, StartTransaction with the meter
    register, Charging only after StartTransaction; the same idTag stops it (reason Local or
    absent) with the register at the stop, Finishing, then Available once unplugged
    (sections 4.1, 4.8, 4.9, 4.10)."""
    sim = await launch()
    await sim.do("meter 1 1000")
    mark = csms.mark()
    await sim.do("plug 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Preparing"), mark)
    assert (await sim.do("swipe TAG1"))["result"] == "started"
    await sim.do("ev-charging 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Charging"), mark)
    await sim.do("meter 1 1500")
    assert (await sim.do("swipe TAG1"))["result"] == "stopped"
    await csms.wait(answered("StopTransaction"), mark)
    await csms.wait(req("StatusNotification", connectorId=1, status="Finishing"), mark)
    await sim.do("unplug 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Available"), mark)
    frames = csms.since(mark)
    assert_in_order(
        frames,
        req("StatusNotification", connectorId=1, status="Preparing"),
        req("Authorize", idTag="TAG1"),
        answered("Authorize"),
        req("StartTransaction", connectorId=1, idTag="TAG1", meterStart=1000),
        answered("StartTransaction", transactionId=1001),
        req("StatusNotification", connectorId=1, status="Charging"),
        req("StopTransaction", transactionId=1001, meterStop=1500, idTag="TAG1"),
        req("StatusNotification", connectorId=1, status="Available"),
    )
    stop = calls(frames, "StopTransaction")[0].payload
    assert stop.get("reason", "Local") == "Local"
    assert "Finishing" in statuses(frames, 1)


async def test_identification_first_session_started_on_plug_and_stopped_by_unplugging(
    csms: Csms, launch: Launch
) -> None:
    """Regular session, identification first: the authorised idTag makes the connector
    Preparing, plugging in starts the transaction, unplugging stops it with EVDisconnected
    (StopTransactionOnEVSideDisconnect true) (sections 4.1, 4.8, 4.10, 9.1)."""
    sim = await launch()
    mark = csms.mark()
    assert (await sim.do("swipe TAG1"))["result"] == "waiting_for_plug"
    await csms.wait(req("StatusNotification", connectorId=1, status="Preparing"), mark)
    assert not calls(csms.since(mark), "StartTransaction")
    await sim.do("plug 1")
    start = await csms.wait(req("StartTransaction", idTag="TAG1"), mark)
    await sim.do("ev-charging 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Charging"), mark)
    await sim.do("unplug 1")
    await csms.wait(answered("StopTransaction"), mark)
    await csms.wait(req("StatusNotification", connectorId=1, status="Available"), mark)
    assert_in_order(
        csms.since(mark),
        req("Authorize", idTag="TAG1"),
        req("StatusNotification", connectorId=1, status="Preparing"),
        req("StartTransaction", connectorId=1, idTag="TAG1"),
        req("StatusNotification", connectorId=1, status="Charging"),
        req("StopTransaction", transactionId=1001, reason="EVDisconnected"),
    )
    assert start.payload["connectorId"] == 1


async def test_identification_first_times_out_after_connection_timeout(
    csms: Csms, launch: Launch
) -> None:
    """Identification first but no cable within ConnectionTimeOut: Preparing falls back to
    Available and plugging in later starts nothing (sections 4.9 B1, 9.1 ConnectionTimeOut)."""
    sim = await launch()
    await csms.configure(ConnectionTimeOut=1)
    mark = csms.mark()
    assert (await sim.do("swipe TAG1"))["result"] == "waiting_for_plug"
    preparing = await csms.wait(req("StatusNotification", connectorId=1, status="Preparing"), mark)
    available = await csms.wait(
        req("StatusNotification", connectorId=1, status="Available"), mark, timeout=10
    )
    assert 0.8 <= available.at - preparing.at <= 2.5
    await sim.do("plug 1")
    after = csms.frames.index(available) + 1
    await csms.wait(req("StatusNotification", connectorId=1, status="Preparing"), after)
    await csms.quiet(0.5)
    assert not calls(csms.since(mark), "StartTransaction")


async def test_remote_start_with_the_cable_plugged_in_first(csms: Csms, launch: Launch) -> None:
    """RemoteStartTransaction on a Preparing connector: Accepted, then StartTransaction for the
    given idTag without an Authorize.req (AuthorizeRemoteTxRequests false)
    (sections 5.11, 4.8, 9.1 AuthorizeRemoteTxRequests)."""
    sim = await launch()
    mark = csms.mark()
    await sim.do("plug 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Preparing"), mark)
    result = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE1"})
    assert result == {"status": "Accepted"}
    await csms.wait(answered("StartTransaction"), mark)
    await sim.do("ev-charging 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Charging"), mark)
    frames = csms.since(mark)
    assert not calls(frames, "Authorize")
    assert_in_order(
        frames,
        req("StatusNotification", connectorId=1, status="Preparing"),
        conf("RemoteStartTransaction", status="Accepted"),
        req("StartTransaction", connectorId=1, idTag="REMOTE1"),
        req("StatusNotification", connectorId=1, status="Charging"),
    )


async def test_remote_start_first_then_the_cable(csms: Csms, launch: Launch) -> None:
    """RemoteStartTransaction before the cable: Accepted, Preparing, and the transaction starts
    when the car is plugged in (sections 5.11, 4.9 A2)."""
    sim = await launch()
    mark = csms.mark()
    result = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE1"})
    assert result == {"status": "Accepted"}
    await csms.wait(req("StatusNotification", connectorId=1, status="Preparing"), mark)
    assert not calls(csms.since(mark), "StartTransaction")
    await sim.do("plug 1")
    await csms.wait(answered("StartTransaction"), mark)
    assert_in_order(
        csms.since(mark),
        conf("RemoteStartTransaction", status="Accepted"),
        req("StatusNotification", connectorId=1, status="Preparing"),
        req("StartTransaction", connectorId=1, idTag="REMOTE1"),
    )


async def test_remote_start_times_out_after_connection_timeout(csms: Csms, launch: Launch) -> None:
    """RemoteStartTransaction accepted but no cable within ConnectionTimeOut: back to
    Available, no StartTransaction (sections 5.11, 4.9 B1, 9.1 ConnectionTimeOut)."""
    sim = await launch()
    await csms.configure(ConnectionTimeOut=1)
    mark = csms.mark()
    result = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE1"})
    assert result == {"status": "Accepted"}
    preparing = await csms.wait(req("StatusNotification", connectorId=1, status="Preparing"), mark)
    available = await csms.wait(
        req("StatusNotification", connectorId=1, status="Available"), mark, timeout=10
    )
    assert 0.8 <= available.at - preparing.at <= 2.5
    await sim.do("plug 1")
    await csms.quiet(0.5)
    assert not calls(csms.since(mark), "StartTransaction")


async def test_remote_start_authorizes_first_when_authorize_remote_tx_requests(
    csms: Csms, launch: Launch
) -> None:
    """AuthorizeRemoteTxRequests true: the remote idTag is authorised like a local one
    (Authorize.req) before StartTransaction (sections 5.11, 9.1)."""
    sim = await launch()
    await csms.configure(AuthorizeRemoteTxRequests=True)
    mark = csms.mark()
    await sim.do("plug 1")
    result = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE1"})
    assert result == {"status": "Accepted"}
    await csms.wait(answered("StartTransaction"), mark)
    assert_in_order(
        csms.since(mark),
        conf("RemoteStartTransaction", status="Accepted"),
        req("Authorize", idTag="REMOTE1"),
        answered("Authorize"),
        req("StartTransaction", idTag="REMOTE1"),
    )


async def test_remote_start_on_an_occupied_or_invalid_connector_is_rejected(
    csms: Csms, launch: Launch
) -> None:
    """RemoteStartTransaction for connectorId 0 (it shall be > 0), for a connector the charge
    point does not have, and for a connector with a transaction running: Rejected, nothing
    else happens (sections 5.11, 6.33, 6.34)."""
    sim = await launch()
    for connector_id in (0, 3):
        payload = {"connectorId": connector_id, "idTag": "OTHER"}
        result = await csms.ask("RemoteStartTransaction", payload)
        assert result == {"status": "Rejected"}, f"connectorId {connector_id}: {result}"
    await begin(csms, sim)
    mark = csms.mark()
    result = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "OTHER"})
    assert result == {"status": "Rejected"}
    await csms.quiet(0.3)
    assert not calls(csms.since(mark), "StartTransaction", "StopTransaction")
    assert "Preparing" not in statuses(csms.since(mark), 1)


async def test_remote_stop_stops_the_transaction_and_an_unknown_id_is_rejected(
    csms: Csms, launch: Launch
) -> None:
    """RemoteStopTransaction: an unknown transactionId is Rejected; the running one is
    Accepted and stopped with reason Remote (sections 5.12, 4.10, 7.36)."""
    sim = await launch()
    transaction_id = await begin(csms, sim)
    mark = csms.mark()
    unknown = await csms.ask("RemoteStopTransaction", {"transactionId": transaction_id + 50})
    assert unknown == {"status": "Rejected"}
    await csms.quiet(0.2)
    assert not calls(csms.since(mark), "StopTransaction")
    result = await csms.ask("RemoteStopTransaction", {"transactionId": transaction_id})
    assert result == {"status": "Accepted"}
    await csms.wait(answered("StopTransaction"), mark)
    assert_in_order(
        csms.since(mark),
        conf("RemoteStopTransaction", status="Rejected"),
        conf("RemoteStopTransaction", status="Accepted"),
        req("StopTransaction", transactionId=transaction_id, reason="Remote"),
    )
    assert "Charging" not in statuses(calls(csms.since(mark)), 1)


@pytest.mark.parametrize("group_from", ["Authorize.conf", "StartTransaction.conf"])
async def test_another_tag_of_the_same_group_stops_the_transaction(
    csms: Csms, launch: Launch, group_from: str
) -> None:
    """Parent idTag: a different idTag whose parentIdTag (from its Authorize.conf) matches the
    transaction's (learnt from Authorize.conf or StartTransaction.conf) stops it; a tag of
    another group does not. StopTransaction.idTag is the identifier that requested the stop
    (sections 3.10, 4.1, 4.10, 6.49)."""
    group = {"status": "Accepted", "parentIdTag": "FAMILY"}
    csms.id_tags = {"MEMBER2": group, "STRANGER": {"status": "Accepted", "parentIdTag": "OTHER"}}
    if group_from == "Authorize.conf":
        csms.id_tags["MEMBER1"] = group
    else:
        csms.start_id_tags["MEMBER1"] = group
    sim = await launch()
    transaction_id = await begin(csms, sim, "MEMBER1")
    mark = csms.mark()
    ack = await sim.do("swipe STRANGER")
    assert ack["result"] != "stopped", "a tag of another group must not stop the transaction"
    await csms.quiet(0.3)
    assert not calls(csms.since(mark), "StopTransaction")
    assert (await sim.do("swipe MEMBER2"))["result"] == "stopped"
    await csms.wait(answered("StopTransaction"), mark)
    assert_in_order(
        csms.since(mark),
        req("Authorize", idTag="STRANGER"),
        req("Authorize", idTag="MEMBER2"),
        answered("Authorize", idTagInfo=group),
        req("StopTransaction", transactionId=transaction_id),
    )
    stop = calls(csms.since(mark), "StopTransaction")[0].payload
    assert stop.get("reason", "Local") == "Local"
    assert stop.get("idTag") == "MEMBER2", (
        f"StopTransaction.idTag is the identifier that requested the stop (6.49): {stop}"
    )


@pytest.mark.parametrize("status", ["Invalid", "Blocked", "Expired"])
async def test_a_refused_tag_starts_no_transaction(csms: Csms, launch: Launch, status: str) -> None:
    """Authorize.conf not Accepted (Invalid/Blocked/Expired): no transaction, the connector
    stays Preparing (sections 4.1, 7.2)."""
    csms.id_tags = {"BAD": {"status": status}}
    sim = await launch()
    mark = csms.mark()
    await sim.do("plug 1")
    ack = await sim.do("swipe BAD")
    assert ack["result"] == "rejected"
    await csms.quiet(0.3)
    frames = csms.since(mark)
    assert not calls(frames, "StartTransaction")
    assert_in_order(frames, req("Authorize", idTag="BAD"), answered("Authorize"))
    assert statuses(frames, 1) == ["Preparing"]


async def test_start_transaction_conf_not_accepted_stops_with_deauthorized(
    csms: Csms, launch: Launch
) -> None:
    """StartTransaction.conf with an idTagInfo that is not Accepted and
    StopTransactionOnInvalidId true: the transaction is stopped with reason DeAuthorized
    (sections 3.5, 4.8, 9.1 StopTransactionOnInvalidId)."""
    csms.start_id_tags = {"TAG1": {"status": "Blocked"}}
    sim = await launch()
    mark = csms.mark()
    await sim.do("plug 1")
    assert (await sim.do("swipe TAG1"))["result"] == "started"
    await csms.wait(answered("StopTransaction"), mark)
    assert_in_order(
        csms.since(mark),
        req("Authorize", idTag="TAG1"),
        req("StartTransaction", idTag="TAG1"),
        answered("StartTransaction", idTagInfo={"status": "Blocked"}),
        req("StopTransaction", transactionId=1001, reason="DeAuthorized"),
    )


async def test_unplugging_keeps_the_transaction_when_stop_on_ev_side_disconnect_is_false(
    csms: Csms, launch: Launch
) -> None:
    """StopTransactionOnEVSideDisconnect false: unplugging at the EV does not stop the
    transaction and the cable stays locked (this has priority over
    UnlockConnectorOnEVSideDisconnect); plugged in again, energy transfer is allowed again;
    the idTag then stops it (sections 4.10, 9.1 StopTransactionOnEVSideDisconnect,
    UnlockConnectorOnEVSideDisconnect)."""
    sim = await launch()
    await csms.configure(StopTransactionOnEVSideDisconnect=False)
    transaction_id = await begin(csms, sim)
    mark, events = csms.mark(), sim.mark()
    await sim.do("unplug 1")
    await csms.wait(req("StatusNotification", connectorId=1), mark)
    await csms.quiet(0.3)
    assert not calls(csms.since(mark), "StopTransaction")
    assert statuses(csms.since(mark), 1)[-1] in ("SuspendedEV", "SuspendedEVSE")
    locked = not sim.find("hardware", events, action="unlock")
    await sim.do("plug 1")
    await sim.do("ev-charging 1")
    await csms.wait(req("StatusNotification", connectorId=1, status="Charging"), mark)
    assert sim.find("hardware", events, action="charging_permitted", permitted=True)
    assert (await sim.do("swipe TAG1"))["result"] == "stopped"
    await csms.wait(answered("StopTransaction"), mark)
    assert_in_order(
        csms.since(mark), req("StopTransaction", transactionId=transaction_id, reason="Local")
    )
    assert locked, "the connector was unlocked although the transaction went on (4.10)"


async def test_remote_stop_right_after_start_transaction_conf_is_accepted(
    csms: Csms, launch: Launch
) -> None:
    """A CSMS that sends RemoteStopTransaction the moment it has answered StartTransaction:
    the transactionId reached the charge point first on the same connection, so the stop is
    Accepted and the transaction stopped with reason Remote, every time (several sessions in
    a row, as the timing varies) (sections 5.12, 4.8, 4.10)."""
    sim = await launch()
    csms.follow_start = lambda transaction_id: (
        "RemoteStopTransaction",
        {"transactionId": transaction_id},
    )
    refused: list[str] = []
    for session in range(20):
        mark = csms.mark()
        await sim.do("plug 1")
        assert (await sim.do(f"swipe TAG{session} 1"))["result"] == "started"
        start = await csms.wait(answered("StartTransaction"), mark)
        transaction_id = start.payload["transactionId"]
        answer = await csms.answer_to_followed(transaction_id)
        if answer.payload != {"status": "Accepted"}:
            refused.append(f"transaction {transaction_id}: {answer.raw}")
            await sim.do(f"swipe TAG{session} 1")
        await csms.wait(answered("StopTransaction"), mark)
        await sim.do("unplug 1")
        await csms.wait(req("StatusNotification", connectorId=1, status="Available"), mark)
    assert not refused, (
        "RemoteStopTransaction sent right after StartTransaction.conf was not Accepted:\n"
        + "\n".join(refused)
    )
