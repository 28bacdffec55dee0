"""Core profile: booting, heartbeats, reconnecting and resetting (OCPP 1.6 edition 2)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from .conftest import Launch
from .harness import (
    RESULT,
    Csms,
    answered,
    assert_in_order,
    begin,
    calls,
    conf,
    req,
    sent,
)


async def test_cold_boot_sends_boot_notification_then_status_of_every_connector(
    csms: Csms, launch: Launch
) -> None:
    """Cold boot: BootNotification first, then StatusNotification for connector 0 (the charge
    point) and every connector, and the heartbeat interval from BootNotification.conf is
    taken over (sections 4.2, 4.9, 3.8, 6.4)."""
    csms.boot_answers = [("Accepted", 120)]
    await launch(connectors=2)
    frames = csms.since()
    assert calls(frames)[0].action == "BootNotification", "the first CALL must be the boot"
    boot = calls(frames)[0].payload
    assert boot["chargePointVendor"] == "ocpp_cp"
    assert boot["chargePointModel"] == "Simulator"
    assert_in_order(
        frames,
        req("BootNotification"),
        answered("BootNotification", status="Accepted"),
        req("StatusNotification", connectorId=0, status="Available", errorCode="NoError"),
        req("StatusNotification", connectorId=1, status="Available", errorCode="NoError"),
        req("StatusNotification", connectorId=2, status="Available", errorCode="NoError"),
    )
    config = await csms.configuration("HeartbeatInterval")
    assert config["HeartbeatInterval"]["value"] == "120"


async def test_boot_notification_carries_the_serial_number(csms: Csms, launch: Launch) -> None:
    """BootNotification.req carries chargePointSerialNumber (and the deprecated
    chargeBoxSerialNumber) when the charge point has one (sections 4.2, 6.3)."""
    await launch("--serial", "SN-0042")
    boot = calls(csms.since(), "BootNotification")[0].payload
    assert boot.get("chargePointSerialNumber") == "SN-0042"
    assert boot.get("chargeBoxSerialNumber") in (None, "SN-0042")


async def test_boot_pending_answers_csms_calls_and_rejects_remote_start_and_stop(
    csms: Csms, launch: Launch
) -> None:
    """While Pending the charge point answers the CSMS's calls (configuration), rejects
    RemoteStart/RemoteStopTransaction, sends nothing of its own, and boots again when the CSMS
    triggers a BootNotification (section 4.2)."""
    csms.boot_answers = [("Pending", 60)]
    sim = await launch(boot=False)
    await csms.wait(answered("BootNotification", status="Pending"))
    await sim.wait_event("state", state="pending")
    config = await csms.ask("GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert [k["key"] for k in config["configurationKey"]] == ["HeartbeatInterval"]
    changed = await csms.ask(
        "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"}
    )
    assert changed == {"status": "Accepted"}
    start = await csms.ask("RemoteStartTransaction", {"connectorId": 1, "idTag": "TAG1"})
    assert start == {"status": "Rejected"}
    stop = await csms.ask("RemoteStopTransaction", {"transactionId": 1})
    assert stop == {"status": "Rejected"}
    await csms.quiet(0.5)
    assert [f.action for f in calls(csms.since())] == ["BootNotification"], (
        "while Pending the charge point may send nothing but BootNotification"
    )
    mark = csms.mark()
    trigger = await csms.ask("TriggerMessage", {"requestedMessage": "BootNotification"})
    assert trigger == {"status": "Accepted"}
    await csms.wait(req("StatusNotification", connectorId=1), mark)
    assert_in_order(
        csms.since(),
        req("BootNotification"),
        answered("BootNotification", status="Pending"),
        conf("GetConfiguration"),
        conf("ChangeConfiguration", status="Accepted"),
        conf("RemoteStartTransaction", status="Rejected"),
        conf("RemoteStopTransaction", status="Rejected"),
        conf("TriggerMessage", status="Accepted"),
        req("BootNotification"),
        answered("BootNotification", status="Accepted"),
        req("StatusNotification", connectorId=0),
        req("StatusNotification", connectorId=1),
    )


async def test_boot_rejected_retries_after_the_interval_and_sends_nothing_else(
    csms: Csms, launch: Launch
) -> None:
    """BootNotification Rejected: the charge point sends nothing until the interval has
    passed, then boots again; after Accepted the statuses follow (sections 4.2, 6.4)."""
    csms.boot_answers = [("Rejected", 1), ("Rejected", 1)]
    sim = await launch(boot=False)
    await csms.wait(req("BootNotification"))
    await sim.wait_event("state", state="rejected")
    await csms.wait(answered("BootNotification", status="Accepted"), timeout=8)
    await csms.wait(req("StatusNotification", connectorId=1))
    frames = csms.since()
    boots = calls(frames, "BootNotification")
    assert len(boots) == 3
    for earlier, later in itertools.pairwise(boots):
        waited = later.at - earlier.at
        assert waited >= 0.9, f"BootNotification retried after {waited:.2f} s, interval is 1 s"
    before_accept = [f for f in calls(frames) if f.at < boots[-1].at]
    assert {f.action for f in before_accept} == {"BootNotification"}, (
        "a Rejected charge point may send nothing but BootNotification"
    )
    assert_in_order(
        frames,
        answered("BootNotification", status="Rejected"),
        answered("BootNotification", status="Rejected"),
        answered("BootNotification", status="Accepted"),
        req("StatusNotification", connectorId=0),
        req("StatusNotification", connectorId=1),
    )


async def test_heartbeat_is_sent_every_interval(csms: Csms, launch: Launch) -> None:
    """Heartbeat.req after every HeartbeatInterval (the interval of BootNotification.conf),
    answered with the CSMS time (sections 4.6, 6.29, 9.1 HeartbeatInterval)."""
    csms.boot_answers = [("Accepted", 1)]
    await launch()
    mark = csms.mark()
    first = await csms.wait(req("Heartbeat"), mark, timeout=10)
    second = await csms.wait(req("Heartbeat"), csms.frames.index(first) + 1, timeout=10)
    assert first.payload == {} and second.payload == {}
    assert 0.7 <= second.at - first.at <= 2.0


async def test_reconnect_without_reboot_sends_statuses_but_no_boot_notification(
    csms: Csms, launch: Launch
) -> None:
    """A lost connection is not a reboot: after reconnecting the charge point sends no
    BootNotification, and reports every connector's status (sections 4.2, 4.9)."""
    sim = await launch(connectors=2)
    await sim.do("offline")
    await sim.wait_event("state", state="disconnected")
    mark = csms.mark()
    await sim.do("online")
    await csms.wait(req("StatusNotification", connectorId=2), mark)
    frames = csms.since(mark)
    assert not calls(frames, "BootNotification")
    assert_in_order(
        frames,
        req("StatusNotification", connectorId=0),
        req("StatusNotification", connectorId=1),
        req("StatusNotification", connectorId=2),
    )
    assert {f.connection for f in calls(frames)} == {2}, "sent on the new connection"


@pytest.mark.parametrize("kind", ["Soft", "Hard"])
async def test_reset_without_transaction_reboots(csms: Csms, launch: Launch, kind: str) -> None:
    """Reset (Soft/Hard) without a transaction: Reset.conf Accepted, the charge point
    restarts and boots again with BootNotification, then reports its statuses
    (sections 5.14, 4.2)."""
    sim = await launch()
    mark = csms.mark()
    result = await csms.ask("Reset", {"type": kind})
    assert result == {"status": "Accepted"}
    await sim.wait_event("hardware", action="reset", kind=kind)
    await csms.wait(req("StatusNotification", connectorId=1), mark)
    frames = csms.since(mark)
    assert not calls(frames, "StopTransaction")
    boot = assert_in_order(
        frames,
        conf("Reset", status="Accepted"),
        req("BootNotification"),
        answered("BootNotification", status="Accepted"),
        req("StatusNotification", connectorId=0),
        req("StatusNotification", connectorId=1, status="Available"),
    )[1]
    assert boot.connection == 2, "a reset reconnects"


@pytest.mark.parametrize(("kind", "reason"), [("Soft", "SoftReset"), ("Hard", "HardReset")])
async def test_reset_with_transaction_stops_it_then_reboots(
    csms: Csms, launch: Launch, kind: str, reason: str
) -> None:
    """Reset during a transaction: the transaction is stopped with reason SoftReset/HardReset
    and its StopTransaction delivered; the charge point then boots again (sections 5.14,
    4.10, 7.36)."""
    sim = await launch()
    transaction_id = await begin(csms, sim)
    mark = csms.mark()
    result = await csms.ask("Reset", {"type": kind})
    assert result == {"status": "Accepted"}
    await csms.wait(answered("BootNotification", status="Accepted"), mark)
    await csms.wait(req("StatusNotification", connectorId=1), mark)
    frames = csms.since(mark)
    stops = calls(frames, "StopTransaction")
    assert len(stops) == 1, "exactly one StopTransaction for the transaction"
    assert stops[0].payload["transactionId"] == transaction_id
    assert stops[0].payload.get("reason") == reason
    if kind == "Soft":  # a soft reset stops gracefully before restarting
        assert_in_order(
            frames,
            sent("Reset"),
            conf("Reset", status="Accepted"),
            req("StopTransaction", reason=reason, transactionId=transaction_id),
            answered("StopTransaction"),
            req("BootNotification"),
        )
    assert all(f.kind == RESULT for f in frames if f.action == "Reset" and f.sender == "cp")


@pytest.mark.parametrize("car", ["gone", "still plugged in"])
async def test_power_loss_during_a_transaction(
    csms: Csms, launch: Launch, tmp_path: Path, car: str
) -> None:
    """The charge point loses power during a transaction (SIGKILL) and boots again: with the
    car gone the transaction is stopped with reason PowerLoss, the last known register and
    the CSMS's transactionId, after the BootNotification; with the car still plugged in it
    goes on under the same transactionId (sections 4.10, 7.36, 3.7, 4.2)."""
    state = tmp_path / "power"
    sim = await launch(state_dir=state)
    transaction_id = await begin(csms, sim)
    await sim.do("meter 1 800")
    await sim.kill()
    mark = csms.mark()
    sim = await launch(state_dir=state)
    await sim.do("plug 1" if car == "still plugged in" else "unplug 1")
    if car == "gone":
        await csms.wait(answered("StopTransaction"), mark)
        assert_in_order(
            csms.since(mark),
            req("BootNotification"),
            answered("BootNotification", status="Accepted"),
            req(
                "StopTransaction",
                transactionId=transaction_id,
                reason="PowerLoss",
                meterStop=800,
            ),
        )
        return
    await csms.quiet(0.5)
    assert not calls(csms.since(mark), "StopTransaction", "StartTransaction")
    stop = await csms.ask("RemoteStopTransaction", {"transactionId": transaction_id})
    assert stop == {"status": "Accepted"}, "the transaction goes on after the reboot"
    await csms.wait(req("StopTransaction", transactionId=transaction_id, reason="Remote"), mark)
