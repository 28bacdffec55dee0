"""Core profile behaviour of the engine against a real CSMS on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from custom_components.ocpp_cp.engine import (
    ChargePointEngine,
    ConnectionState,
    EvState,
    MemoryStorage,
    ResetKind,
)
from tests.csms import TestCsms

from .conftest import EngineFactory, RecordingHardware

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


async def wait_state(
    engine: ChargePointEngine, state: ConnectionState, timeout: float = 15
) -> None:
    async with asyncio.timeout(timeout):
        while engine.state != state:
            await asyncio.sleep(0.01)


async def accepted_engine(
    csms: TestCsms, make_engine: EngineFactory, **overrides: Any
) -> ChargePointEngine:
    engine = make_engine(csms.url, **overrides)
    await engine.start()
    await wait_state(engine, ConnectionState.ACCEPTED)
    # the initial StatusNotifications for every connector (0..N)
    connectors = overrides.get("number_of_connectors", 1)
    for connector_id in range(connectors + 1):
        await csms.wait_for("StatusNotification", lambda p, c=connector_id: p["connector_id"] == c)
    return engine


async def test_boot_accepted_announces_every_connector(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(
        csms, make_engine, number_of_connectors=2, serial_number="SN-1", firmware_version="1.2"
    )
    boot = csms.actions("BootNotification")[0]
    assert boot == {
        "charge_point_vendor": "ocpp_cp",
        "charge_point_model": "ocpp_cp",
        "charge_point_serial_number": "SN-1",
        "charge_box_serial_number": "SN-1",
        "firmware_version": "1.2",
    }
    statuses = {p["connector_id"]: p["status"] for p in csms.actions("StatusNotification")}
    assert statuses == {0: "Available", 1: "Available", 2: "Available"}
    assert csms.received[0].action == "BootNotification"
    assert engine.config.get("HeartbeatInterval") == "300"


async def test_pending_answers_calls_but_sends_nothing_else(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    csms.boot_answers = [("Pending", 1), ("Accepted", 120)]
    engine = make_engine(csms.url)
    await engine.start()
    await wait_state(engine, ConnectionState.PENDING)
    engine.set_plugged(1, True)  # an input change while pending must not be sent yet
    result = await csms.call(call.GetConfiguration(key=["NumberOfConnectors"]))
    assert result.configuration_key == [
        {"key": "NumberOfConnectors", "readonly": True, "value": "1"}
    ]
    assert [r.action for r in csms.received] == ["BootNotification"]
    await wait_state(engine, ConnectionState.ACCEPTED, timeout=15)
    assert [r.action for r in csms.received][:2] == ["BootNotification", "BootNotification"]
    status = await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
    assert status["status"] == "Preparing"
    assert engine.config.get("HeartbeatInterval") == "120"


async def test_rejected_retries_after_interval(csms: TestCsms, make_engine: EngineFactory) -> None:
    csms.boot_answers = [("Rejected", 1)]
    engine = make_engine(csms.url)
    await engine.start()
    await wait_state(engine, ConnectionState.REJECTED)
    assert engine.last_error == "the CSMS rejected the BootNotification"
    assert len(csms.actions("BootNotification")) == 1
    await wait_state(engine, ConnectionState.ACCEPTED, timeout=15)
    assert len(csms.actions("BootNotification")) == 2


async def test_pinned_heartbeat_ignores_csms_interval(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    csms.boot_answers = [("Accepted", 14400)]
    engine = await accepted_engine(csms, make_engine, pinned_heartbeat_interval=1)
    assert engine.config.get("HeartbeatInterval") == "1"
    await csms.wait_for("Heartbeat", timeout=10)
    result = await csms.call(call.ChangeConfiguration(key="HeartbeatInterval", value="600"))
    assert result.status == "Rejected"


async def test_local_session_start_to_stop(csms: TestCsms, make_engine: EngineFactory) -> None:
    hardware = RecordingHardware()
    engine = await accepted_engine(csms, make_engine, hardware=hardware)
    engine.set_reading(1, ENERGY, 1000.4)
    engine.set_plugged(1, True)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
    assert await engine.swipe("TAG1") == "started"
    start = await csms.wait_for("StartTransaction")
    assert start["meter_start"] == 1000
    assert start["id_tag"] == "TAG1"
    assert csms.actions("Authorize") == [{"id_tag": "TAG1"}]
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEV")
    engine.set_ev_state(1, EvState.CHARGING)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
    assert ("permitted", (1, True)) in hardware.calls
    engine.set_reading(1, ENERGY, 1500.6)
    engine.set_plugged(1, False)
    stop = await csms.wait_for("StopTransaction")
    assert stop["meter_stop"] == 1501
    assert stop["transaction_id"] == 1
    assert stop["reason"] == "EVDisconnected"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Available")
    assert hardware.calls[-2:] in (
        [("permitted", (1, False)), ("unlock", 1)],
        [("unlock", 1), ("permitted", (1, False))],
    )


async def test_swipe_again_stops_and_leaves_finishing(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    engine.set_plugged(1, True)
    assert await engine.swipe("TAG1") == "started"
    await csms.wait_for("StartTransaction")
    assert await engine.swipe("TAG1") == "stopped"
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "Local"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Finishing")


async def test_invalid_id_tag_rejected_locally(csms: TestCsms, make_engine: EngineFactory) -> None:
    csms.id_tag_status["BAD"] = "Blocked"
    engine = await accepted_engine(csms, make_engine)
    engine.set_plugged(1, True)
    assert await engine.swipe("BAD") == "rejected"
    await asyncio.sleep(0.1)
    assert csms.actions("StartTransaction") == []


@pytest.mark.parametrize(
    ("stop_on_invalid", "expected"), [("true", "stopped"), ("false", "paused")]
)
async def test_start_transaction_conf_invalid(
    csms: TestCsms, make_engine: EngineFactory, stop_on_invalid: str, expected: str
) -> None:
    engine = await accepted_engine(csms, make_engine)
    await csms.call(
        call.ChangeConfiguration(key="StopTransactionOnInvalidId", value=stop_on_invalid)
    )
    engine.set_plugged(1, True)
    # Authorize says Accepted, StartTransaction.conf says Invalid (e.g. a concurrent session)
    assert await engine.start_transaction(1, "TAG2") == "started"
    csms.id_tag_status["TAG2"] = "Invalid"
    await csms.wait_for("StartTransaction")
    if expected == "stopped":
        stop = await csms.wait_for("StopTransaction")
        assert stop["reason"] == "DeAuthorized"
    else:
        await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")
        assert engine.connectors[1].transaction is not None


async def test_remote_start_waits_for_plug_then_remote_stop(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    result = await csms.call(call.RemoteStartTransaction(id_tag="REMOTE", connector_id=1))
    assert result.status == "Accepted"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
    assert csms.actions("StartTransaction") == []
    engine.set_plugged(1, True)
    start = await csms.wait_for("StartTransaction")
    assert start["id_tag"] == "REMOTE"
    async with asyncio.timeout(10):  # the engine has the StartTransaction's answer: id 1
        while engine.connectors[1].transaction.transaction_id is None:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
    wrong = await csms.call(call.RemoteStopTransaction(transaction_id=999))
    assert wrong.status == "Rejected"
    result = await csms.call(call.RemoteStopTransaction(transaction_id=1))
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "Remote"


async def test_remote_start_authorizes_when_configured(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    await csms.call(call.ChangeConfiguration(key="AuthorizeRemoteTxRequests", value="true"))
    csms.id_tag_status["NOPE"] = "Invalid"
    engine.set_plugged(1, True)
    result = await csms.call(call.RemoteStartTransaction(id_tag="NOPE"))
    assert result.status == "Accepted"
    await csms.wait_for("Authorize")
    await asyncio.sleep(0.1)
    assert csms.actions("StartTransaction") == []
    result = await csms.call(call.RemoteStartTransaction(id_tag="OK"))
    await csms.wait_for("StartTransaction", lambda p: p["id_tag"] == "OK")


async def test_remote_start_rejected_for_bad_or_busy_connector(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine, number_of_connectors=2)
    assert (await csms.call(call.RemoteStartTransaction(id_tag="A", connector_id=3))).status == (
        "Rejected"
    )
    assert (await csms.call(call.RemoteStartTransaction(id_tag="A", connector_id=0))).status == (
        "Rejected"
    )
    engine.set_plugged(2, True)
    # no connector given: the plugged one is chosen
    assert (await csms.call(call.RemoteStartTransaction(id_tag="A"))).status == "Accepted"
    start = await csms.wait_for("StartTransaction")
    assert start["connector_id"] == 2
    busy = await csms.call(call.RemoteStartTransaction(id_tag="B", connector_id=2))
    assert busy.status == "Rejected"


async def test_meter_values_sampled_during_transaction(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(
        csms,
        make_engine,
        measurands=frozenset({ENERGY, POWER, "Current.Import", "Voltage", "SoC"}),
    )
    for key, value in (
        ("MeterValueSampleInterval", "1"),
        ("MeterValuesSampledData", f"{ENERGY},{POWER},Current.Import,Voltage,Current.Offered,SoC"),
        ("StopTxnSampledData", ENERGY),
    ):
        assert (
            await csms.call(call.ChangeConfiguration(key=key, value=value))
        ).status == "Accepted"
    engine.set_reading(1, ENERGY, 5000)
    engine.set_reading(1, POWER, 7360.0)
    for phase in ("L1", "L2", "L3"):
        engine.set_reading(1, "Current.Import", 10.667, phase)
    engine.set_reading(1, "Voltage", 230.1, "L1-N")
    engine.set_reading(1, "SoC", float("nan"))  # a broken source is omitted, never NaN
    engine.set_plugged(1, True)
    engine.set_ev_state(1, EvState.CHARGING)
    await engine.swipe("T")
    sample = await csms.wait_for("MeterValues", timeout=10)
    assert sample["transaction_id"] == 1
    values = sample["meter_value"][0]["sampled_value"]
    rows = {(v["measurand"], v.get("phase")): (v["value"], v.get("unit")) for v in values}
    assert rows == {
        (ENERGY, None): ("5000", "Wh"),
        (POWER, None): ("7360", "W"),
        ("Current.Import", "L1"): ("10.667", "A"),
        ("Current.Import", "L2"): ("10.667", "A"),
        ("Current.Import", "L3"): ("10.667", "A"),
        ("Voltage", "L1-N"): ("230.1", "V"),
        ("Current.Offered", None): ("32", "A"),
    }
    assert {v["context"] for v in values} == {"Sample.Periodic"}
    assert {v["location"] for v in values} == {"Outlet"}
    engine.set_reading(1, ENERGY, 5600)
    engine.stop_transaction(1)
    stop = await csms.wait_for("StopTransaction")
    data = stop["transaction_data"]
    assert data[-1]["sampled_value"] == [
        {
            "value": "5600",
            "context": "Transaction.End",
            "format": "Raw",
            "measurand": ENERGY,
            "location": "Outlet",
            "unit": "Wh",
        }
    ]
    assert all(v["sampled_value"][0]["measurand"] == ENERGY for v in data)


async def test_unsupported_measurand_rejects_whole_write(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    before = engine.config.get("MeterValuesSampledData")
    result = await csms.call(
        call.ChangeConfiguration(key="MeterValuesSampledData", value=f"{ENERGY},SoC")
    )
    assert result.status == "Rejected"
    assert engine.config.get("MeterValuesSampledData") == before
    for single in (ENERGY, POWER, "Current.Offered", "Power.Offered"):
        result = await csms.call(
            call.ChangeConfiguration(key="MeterValuesSampledData", value=single)
        )
        assert result.status == "Accepted", single


async def test_get_and_change_configuration(csms: TestCsms, make_engine: EngineFactory) -> None:
    storage = MemoryStorage()
    engine = await accepted_engine(csms, make_engine, storage=storage)
    everything = await csms.call(call.GetConfiguration())
    keys = {entry["key"]: entry for entry in everything.configuration_key}
    for required in (
        "HeartbeatInterval",
        "MeterValuesSampledData",
        "NumberOfConnectors",
        "SupportedFeatureProfiles",
        "TransactionMessageAttempts",
        "WebSocketPingInterval",
        "StopTransactionOnInvalidId",
    ):
        assert required in keys
    assert keys["NumberOfConnectors"]["readonly"] is True
    assert "value" not in keys["AuthorizationKey"]  # write-only
    some = await csms.call(call.GetConfiguration(key=["HeartbeatInterval", "Nonsense"]))
    assert some.unknown_key == ["Nonsense"]
    checks = [
        ("Nonsense", "1", "NotSupported"),
        ("NumberOfConnectors", "2", "Rejected"),
        ("HeartbeatInterval", "abc", "Rejected"),
        ("HeartbeatInterval", "-5", "Rejected"),
        ("LocalPreAuthorize", "maybe", "Rejected"),
        ("LocalPreAuthorize", "TRUE", "Accepted"),
        ("HeartbeatInterval", "42", "Accepted"),
    ]
    for key, value, status in checks:
        result = await csms.call(call.ChangeConfiguration(key=key, value=value))
        assert result.status == status, (key, value)
    assert engine.config.get("LocalPreAuthorize") == "true"
    # Durable in the journal before each Accepted: no waiting needed.
    saved = await engine.journal.load_document("configuration")
    assert saved["HeartbeatInterval"] == "42"
    assert saved["LocalPreAuthorize"] == "true"


async def test_configuration_survives_restart(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    journal = str(tmp_path / "journal.sqlite3")
    engine = await accepted_engine(csms, make_engine, queue_path=journal)
    await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="15"))
    await engine.stop()
    second = make_engine(csms.url, queue_path=journal)
    await second.start()
    assert second.config.get("MeterValueSampleInterval") == "15"


async def test_settings_of_an_older_release_move_into_the_journal(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    """Before the journal, configuration and availability lived in the EngineStorage."""
    storage = MemoryStorage()
    await storage.async_save("configuration", {"MeterValueSampleInterval": "33"})
    await storage.async_save("availability", {"0": True, "1": False})
    journal = str(tmp_path / "journal.sqlite3")
    engine = make_engine(csms.url, storage=storage, queue_path=journal)
    await engine.start()
    assert engine.config.get("MeterValueSampleInterval") == "33"
    assert not engine.connectors[1].operative
    await engine.stop()
    again = make_engine(csms.url, storage=MemoryStorage(), queue_path=journal)
    await again.start()
    assert again.config.get("MeterValueSampleInterval") == "33"
    assert not again.connectors[1].operative


async def test_heartbeat_interval_change_applies_at_once(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    assert engine.last_heartbeat is None
    await csms.call(call.ChangeConfiguration(key="HeartbeatInterval", value="1"))
    await csms.wait_for("Heartbeat", timeout=10)
    async with asyncio.timeout(10):
        while engine.last_heartbeat is None:
            await asyncio.sleep(0.01)
    assert len(csms.actions("Heartbeat")) == 1


async def test_change_availability(csms: TestCsms, make_engine: EngineFactory) -> None:
    storage = MemoryStorage()
    engine = await accepted_engine(csms, make_engine, storage=storage, number_of_connectors=2)
    result = await csms.call(call.ChangeAvailability(connector_id=2, type="Inoperative"))
    assert result.status == "Accepted"
    await csms.wait_for(
        "StatusNotification", lambda p: p["connector_id"] == 2 and p["status"] == "Unavailable"
    )
    assert (
        await csms.call(call.ChangeAvailability(connector_id=5, type="Inoperative"))
    ).status == ("Rejected")
    engine.set_plugged(1, True)
    await engine.swipe("T")
    await csms.wait_for("StartTransaction")
    result = await csms.call(call.ChangeAvailability(connector_id=0, type="Inoperative"))
    assert result.status == "Scheduled"
    mark = len(csms.received)
    engine.stop_transaction(1)
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 1 and p["status"] == "Unavailable",
        after=mark,
    )
    expected = {"0": False, "1": False, "2": False}
    async with asyncio.timeout(10):  # saved from a worker thread
        while await engine.journal.load_document("availability") != expected:
            await asyncio.sleep(0.02)
    saved = await engine.journal.load_document("availability")
    assert saved == expected


async def test_unlock_connector_stops_transaction_first(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    hardware = RecordingHardware()
    engine = await accepted_engine(csms, make_engine, hardware=hardware)
    engine.set_plugged(1, True)
    await engine.swipe("T")
    await csms.wait_for("StartTransaction")
    result = await csms.call(call.UnlockConnector(connector_id=1))
    assert result.status == "Unlocked"
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "UnlockCommand"
    assert ("unlock", 1) in hardware.calls
    assert (await csms.call(call.UnlockConnector(connector_id=7))).status == "NotSupported"


@pytest.mark.parametrize(("kind", "reason"), [("Hard", "HardReset"), ("Soft", "SoftReset")])
async def test_reset_stops_transactions_then_reboots(
    csms: TestCsms, make_engine: EngineFactory, kind: str, reason: str
) -> None:
    hardware = RecordingHardware()
    engine = await accepted_engine(csms, make_engine, hardware=hardware)
    engine.set_plugged(1, True)
    await engine.swipe("T")
    await csms.wait_for("StartTransaction")
    result = await csms.call(call.Reset(type=kind))
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == reason
    await csms.wait_for("BootNotification", after=2)
    assert ("reset", ResetKind(kind)) in hardware.calls
    assert len(csms.actions("BootNotification")) == 2


async def test_trigger_message_every_kind(csms: TestCsms, make_engine: EngineFactory) -> None:
    engine = await accepted_engine(csms, make_engine)
    engine.set_reading(1, ENERGY, 10)
    expectations = {
        "BootNotification": "BootNotification",
        "Heartbeat": "Heartbeat",
        "StatusNotification": "StatusNotification",
        "MeterValues": "MeterValues",
        "DiagnosticsStatusNotification": "DiagnosticsStatusNotification",
        "FirmwareStatusNotification": "FirmwareStatusNotification",
    }
    for requested, action in expectations.items():
        mark = len(csms.received)
        result = await csms.call(call.TriggerMessage(requested_message=requested, connector_id=1))
        assert result.status == "Accepted", requested
        payload = await csms.wait_for(action, after=mark)
        if action == "MeterValues":
            assert payload["meter_value"][0]["sampled_value"][0]["context"] == "Trigger"
    bad = await csms.call(
        call.TriggerMessage(requested_message="StatusNotification", connector_id=9)
    )
    assert bad.status == "Rejected"


async def test_clear_cache_and_data_transfer(csms: TestCsms, make_engine: EngineFactory) -> None:
    engine = await accepted_engine(csms, make_engine)
    assert (await csms.call(call.ClearCache())).status == "Accepted"
    inbound = await csms.call(call.DataTransfer(vendor_id="acme", message_id="x", data="hi"))
    assert inbound.status == "UnknownVendorId"
    outbound = await engine.data_transfer("ocpp_cp", "ping", "hello")
    assert outbound == {"status": "Accepted", "data": "pong"}
    assert csms.actions("DataTransfer") == [
        {"vendor_id": "ocpp_cp", "message_id": "ping", "data": "hello"}
    ]


async def test_fault_reports_error_code(csms: TestCsms, make_engine: EngineFactory) -> None:
    engine = await accepted_engine(csms, make_engine)
    engine.set_fault(1, "GroundFailure", "RCD tripped")
    faulted = await csms.wait_for("StatusNotification", lambda p: p["status"] == "Faulted")
    assert faulted["error_code"] == "GroundFailure"
    assert faulted["info"] == "RCD tripped"
    engine.clear_fault(1)
    await csms.wait_for(
        "StatusNotification", lambda p: p["status"] == "Available" and p["error_code"] == "NoError"
    )


async def test_local_limit_zero_pauses_without_ending(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    hardware = RecordingHardware()
    engine = await accepted_engine(csms, make_engine, hardware=hardware, phases=3)
    engine.set_plugged(1, True)
    engine.set_ev_state(1, EvState.CHARGING)
    await engine.swipe("T")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
    engine.set_local_limit(1, amps=10)
    assert engine.limit_amps(engine.connectors[1]) == 10
    engine.set_local_limit(1, watts=4140)  # 4140 W / (230 V x 3) = 6 A
    assert engine.limit_amps(engine.connectors[1]) == pytest.approx(6)
    engine.set_local_limit(1, amps=0)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")
    assert engine.connectors[1].transaction is not None
    assert csms.actions("StopTransaction") == []
    mark = len(csms.received)  # the Charging that follows, not an earlier one
    engine.set_local_limit(1, amps=None)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=mark)
    permitted = [c[1][1] for c in hardware.calls if c[0] == "permitted"]
    assert permitted[-3:] == [True, False, True]
    limits = [c[1][1].amps for c in hardware.calls if c[0] == "limit"]
    assert limits[-1] == 32
    assert 10 in limits


async def test_freeze_current_offered_and_pinned_meter_interval(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(
        csms, make_engine, freeze_current_offered=True, pinned_meter_interval=1
    )
    assert engine.config.get("MeterValueSampleInterval") == "1"
    result = await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="10"))
    assert result.status == "Rejected"
    await csms.call(call.ChangeConfiguration(key="MeterValuesSampledData", value="Current.Offered"))
    engine.set_plugged(1, True)
    await engine.swipe("T")
    await csms.wait_for("StartTransaction")
    engine.set_local_limit(1, amps=10)  # the hardware cannot follow: Current.Offered stays
    sample = await csms.wait_for("MeterValues", timeout=10)
    assert sample["meter_value"][0]["sampled_value"][0]["value"] == "32"
    assert engine.limit_amps(engine.connectors[1]) == 10


async def test_configuration_keys_match_in_any_case(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """Keys are CiString (sections 6.9, 7.17, 7.29); answers use our canonical spelling."""
    engine = await accepted_engine(csms, make_engine)
    result = await csms.call(call.ChangeConfiguration(key="ConnectionTimeout", value="45"))
    assert result.status == "Accepted"
    assert engine.config.get("ConnectionTimeOut") == "45"
    got = await csms.call(call.GetConfiguration(key=["connectiontimeout", "NoSuchKey"]))
    assert got.configuration_key == [{"key": "ConnectionTimeOut", "readonly": False, "value": "45"}]
    assert got.unknown_key == ["NoSuchKey"]


async def test_remote_start_and_stop_are_rejected_while_pending(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """Section 4.2: while BootNotification is Pending, no remote start or stop."""
    csms.boot_answers = [("Pending", 1)]
    engine = make_engine(csms.url)
    await engine.start()
    await wait_state(engine, ConnectionState.PENDING)
    engine.set_plugged(1, True)
    start = await csms.call(call.RemoteStartTransaction(id_tag="EARLY", connector_id=1))
    stop = await csms.call(call.RemoteStopTransaction(transaction_id=1))
    assert (start.status, stop.status) == ("Rejected", "Rejected")
    assert engine.connectors[1].pending_id_tag is None
    await wait_state(engine, ConnectionState.ACCEPTED)  # the retry is Accepted
    start = await csms.call(call.RemoteStartTransaction(id_tag="LATER", connector_id=1))
    assert start.status == "Accepted"


async def test_local_pre_authorize_sends_no_authorize(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """Section 9.1.13: a locally authorised idTag starts without any Authorize.req."""
    engine = await accepted_engine(csms, make_engine)
    await csms.call(call.ChangeConfiguration(key="LocalPreAuthorize", value="true"))
    result = await csms.call(
        call.SendLocalList(
            list_version=3,
            update_type="Full",
            local_authorization_list=[{"idTag": "LISTED", "idTagInfo": {"status": "Accepted"}}],
        )
    )
    assert result.status == "Accepted"
    engine.set_plugged(1, True)
    assert await engine.swipe("LISTED") == "started"
    await csms.wait_for("StartTransaction")
    assert csms.actions("Authorize") == []


async def test_an_emptied_local_list_has_version_zero(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """Section 5.10: after a Full SendLocalList with an empty list, the version is 0."""
    await accepted_engine(csms, make_engine)
    item = {"idTag": "A", "idTagInfo": {"status": "Accepted"}}
    await csms.call(
        call.SendLocalList(list_version=5, update_type="Full", local_authorization_list=[item])
    )
    assert (await csms.call(call.GetLocalListVersion())).list_version == 5
    await csms.call(call.SendLocalList(list_version=6, update_type="Full"))
    assert (await csms.call(call.GetLocalListVersion())).list_version == 0


async def test_availability_change_waits_for_a_connector_being_prepared(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """Like libocpp: Preparing (plugged, no transaction yet) answers Scheduled."""
    engine = await accepted_engine(csms, make_engine)
    engine.set_plugged(1, True)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
    result = await csms.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert result.status == "Scheduled"
    assert engine.connectors[1].operative
    mark = len(csms.received)
    engine.set_plugged(1, False)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Unavailable", after=mark)
    assert not engine.connectors[1].operative


async def test_boot_carries_both_serial_number_fields(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    await accepted_engine(csms, make_engine, serial_number="SN-42")
    (boot,) = csms.actions("BootNotification")
    assert boot["charge_point_serial_number"] == "SN-42"
    assert boot["charge_box_serial_number"] == "SN-42"


# lbbrhzn/ocpp v0.11.0 writes every 1.6 measurand at once.
LBBRHZN_MEASURANDS = (
    "Current.Export,Current.Import,Current.Offered,Energy.Active.Export.Register,"
    "Energy.Active.Import.Register,Energy.Reactive.Export.Register,"
    "Energy.Reactive.Import.Register,Energy.Active.Export.Interval,"
    "Energy.Active.Import.Interval,Energy.Reactive.Export.Interval,"
    "Energy.Reactive.Import.Interval,Frequency,Power.Active.Export,Power.Active.Import,"
    "Power.Factor,Power.Offered,Power.Reactive.Export,Power.Reactive.Import,RPM,SoC,"
    "Temperature,Voltage"
)


@pytest.mark.parametrize("accept_lists", [False, True])
async def test_a_list_of_every_measurand_is_accepted_only_behind_the_option(
    csms: TestCsms, make_engine: EngineFactory, accept_lists: bool
) -> None:
    """lbbrhzn/ocpp writes all 22 measurands at once; evcc probes one at a time."""
    engine = await accepted_engine(csms, make_engine, accept_measurand_lists=accept_lists)
    write = call.ChangeConfiguration(key="MeterValuesSampledData", value=LBBRHZN_MEASURANDS)
    result = await csms.call(write)
    assert result.status == ("Accepted" if accept_lists else "Rejected")
    single = await csms.call(call.ChangeConfiguration(key="MeterValuesSampledData", value="SoC"))
    assert single.status == "Rejected"  # a single unsupported one, always
    if not accept_lists:
        return
    engine.set_reading(1, "Energy.Active.Import.Register", 1234)
    engine.set_reading(1, "Power.Active.Import", 0)
    assert await engine.send_meter_values(1)
    (values,) = csms.actions("MeterValues")
    sampled = {v["measurand"] for v in values["meter_value"][0]["sampled_value"]}
    assert sampled == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Offered",
        "Power.Offered",
    }


async def test_a_scheduled_availability_change_survives_a_restart(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    journal = str(tmp_path / "journal.sqlite3")
    engine = await accepted_engine(csms, make_engine, queue_path=journal)
    engine.set_plugged(1, True)
    await engine.swipe("T")
    await csms.wait_for("StartTransaction")
    result = await csms.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert result.status == "Scheduled"
    await engine.stop()  # the transaction is still running
    again = make_engine(csms.url, queue_path=journal)
    await again.start()
    assert again.connectors[1].scheduled_operative is False
    again.set_plugged(1, False)  # the car left while we were down: the change applies
    async with asyncio.timeout(10):
        while again.connectors[1].operative:
            await asyncio.sleep(0.01)
    assert not again.connectors[1].operative
    assert again.connectors[1].transaction is None
