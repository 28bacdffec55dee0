"""An independent strict check: the engine against ocpp-rpc in strict mode (Node), no violations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from custom_components.ocpp_cp.engine import ConnectionState, EvState
from tests.csms import EVCC_MEASURANDS
from tests.strict_csms_harness import StrictCsms

from .conftest import EngineFactory
from .test_core import wait_state

MEASURANDS = frozenset(
    {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
        "Temperature",
    }
)


@pytest.fixture
async def strict() -> AsyncIterator[StrictCsms]:
    async with StrictCsms() as server:
        yield server


def result_of(event: dict[str, Any]) -> dict[str, Any]:
    assert event["event"] == "result_in", event
    result: dict[str, Any] = event["result"]
    return result


async def test_full_scenario_without_schema_violations(
    strict: StrictCsms, make_engine: EngineFactory
) -> None:
    engine = make_engine(
        strict.url, number_of_connectors=2, measurands=MEASURANDS, serial_number="SN-7"
    )
    engine.set_reading(1, "Energy.Active.Import.Register", 12345.0)
    engine.set_reading(1, "Voltage", 231.2, "L1-N")
    engine.set_reading(1, "Temperature", 31.5)
    engine.set_reading(1, "SoC", 55)
    await engine.start()
    await wait_state(engine, ConnectionState.ACCEPTED)
    await strict.wait_for(
        lambda e: e.get("event") == "call_in"
        and e["method"] == "StatusNotification"
        and e["params"]["connectorId"] == 2
    )

    # evcc's setup: availability, all keys, triggers, measurand probing, intervals
    assert result_of(
        await strict.call("ChangeAvailability", {"connectorId": 0, "type": "Operative"})
    )
    keys = result_of(await strict.call("GetConfiguration", {}))["configurationKey"]
    assert {k["key"] for k in keys} >= {"NumberOfConnectors", "SupportedFeatureProfiles"}
    for requested in ("StatusNotification", "BootNotification", "Heartbeat", "MeterValues"):
        answer = result_of(await strict.call("TriggerMessage", {"requestedMessage": requested}))
        assert answer["status"] == "Accepted"
    for measurand in EVCC_MEASURANDS:
        answer = result_of(
            await strict.call(
                "ChangeConfiguration", {"key": "MeterValuesSampledData", "value": measurand}
            )
        )
        assert answer["status"] == "Accepted", measurand
    for key, value in (
        ("MeterValuesSampledData", ",".join(sorted(MEASURANDS | {"Current.Offered"}))),
        ("StopTxnSampledData", "Energy.Active.Import.Register,Power.Active.Import"),
        ("MeterValueSampleInterval", "1"),
        ("ClockAlignedDataInterval", "1"),
        ("WebSocketPingInterval", "30"),
    ):
        answer = result_of(await strict.call("ChangeConfiguration", {"key": key, "value": value}))
        assert answer["status"] == "Accepted", key
    assert result_of(await strict.call("ChangeConfiguration", {"key": "Nope", "value": "1"})) == {
        "status": "NotSupported"
    }

    # a session: plug, remote start, charge, meter values, remote stop, unplug
    engine.set_plugged(1, True)
    assert result_of(
        await strict.call("RemoteStartTransaction", {"idTag": "evcc", "connectorId": 1})
    )
    await strict.wait_for(
        lambda e: e.get("event") == "call_in" and e["method"] == "StartTransaction"
    )
    engine.set_ev_state(1, EvState.CHARGING)
    for phase in ("L1", "L2", "L3"):
        engine.set_reading(1, "Current.Import", 15.9, phase)
    engine.set_reading(1, "Power.Active.Import", 11000)
    engine.set_reading(1, "Energy.Active.Import.Register", 12500.0)
    sample = await strict.wait_for(
        lambda e: e.get("event") == "call_in"
        and e["method"] == "MeterValues"
        and e["params"].get("transactionId") == 1
        and e["params"]["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"
    )
    assert len(sample["params"]["meterValue"][0]["sampledValue"]) >= 8
    await strict.wait_for(
        lambda e: e.get("event") == "call_in"
        and e["method"] == "MeterValues"
        and e["params"]["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"
    )
    assert result_of(await strict.call("RemoteStopTransaction", {"transactionId": 1}))
    stop = await strict.wait_for(
        lambda e: e.get("event") == "call_in" and e["method"] == "StopTransaction"
    )
    assert stop["params"]["meterStop"] == 12500
    assert stop["params"]["reason"] == "Remote"
    engine.set_plugged(1, False)

    # reservation: reserved connector, the reserved idTag starts with the reservationId
    reserve = {
        "connectorId": 1,
        "expiryDate": "2099-01-01T00:00:00Z",
        "idTag": "RSV",
        "reservationId": 5,
    }
    assert result_of(await strict.call("ReserveNow", reserve))["status"] == "Accepted"
    await strict.wait_for(
        lambda e: e.get("event") == "call_in"
        and e["method"] == "StatusNotification"
        and e["params"]["status"] == "Reserved"
    )
    engine.set_plugged(1, True)
    assert await engine.swipe("RSV") == "started"
    start = await strict.wait_for(
        lambda e: e.get("event") == "call_in"
        and e["method"] == "StartTransaction"
        and e["params"].get("reservationId") == 5
    )
    assert start["params"]["idTag"] == "RSV"
    assert await engine.swipe("RSV") == "stopped"
    engine.set_plugged(1, False)
    whole = dict(reserve, connectorId=0, reservationId=6)
    assert result_of(await strict.call("ReserveNow", whole))["status"] == "Accepted"
    assert result_of(await strict.call("CancelReservation", {"reservationId": 6})) == {
        "status": "Accepted"
    }
    assert result_of(await strict.call("CancelReservation", {"reservationId": 99})) == {
        "status": "Rejected"
    }

    # local list, case-insensitive keys, smart charging with its bounds
    local_list = {
        "listVersion": 3,
        "updateType": "Full",
        "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}],
    }
    assert result_of(await strict.call("SendLocalList", local_list))["status"] == "Accepted"
    assert result_of(await strict.call("GetLocalListVersion", {})) == {"listVersion": 3}
    lowercase = {"key": "connectiontimeout", "value": "30"}
    assert result_of(await strict.call("ChangeConfiguration", lowercase))["status"] == "Accepted"
    profile = {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 8,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            },
        },
    }
    assert result_of(await strict.call("SetChargingProfile", profile))["status"] == "Accepted"
    composite = result_of(
        await strict.call("GetCompositeSchedule", {"connectorId": 0, "duration": 10**10})
    )
    assert composite["status"] == "Accepted"
    assert result_of(
        await strict.call("GetCompositeSchedule", {"connectorId": 1, "duration": -1})
    ) == {"status": "Rejected"}
    assert result_of(await strict.call("ClearChargingProfile", {"id": 8})) == {"status": "Accepted"}

    # the rest of Core, both directions
    assert result_of(await strict.call("DataTransfer", {"vendorId": "acme", "data": "x"}))
    assert (await engine.data_transfer("ocpp_cp", "hello", "world"))["status"] == "Accepted"
    assert result_of(await strict.call("ClearCache", {}))["status"] == "Accepted"
    assert result_of(await strict.call("UnlockConnector", {"connectorId": 2}))["status"] in (
        "Unlocked",
        "NotSupported",
    )
    answer = result_of(
        await strict.call("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    )
    assert answer["status"] == "Accepted"
    engine.set_fault(2, "HighTemperature", "cable hot")
    await strict.wait_for(
        lambda e: e.get("event") == "call_in"
        and e["method"] == "StatusNotification"
        and e["params"]["errorCode"] == "HighTemperature"
    )
    assert result_of(await strict.call("Reset", {"type": "Soft"}))["status"] == "Accepted"
    await strict.wait_for(
        lambda e: e.get("event") == "call_in" and e["method"] == "BootNotification",
        since=len(strict.events),
    )
    await wait_state(engine, ConnectionState.ACCEPTED)
    await strict.check_no_violations()
    calls = {e["method"] for e in strict.events if e.get("event") == "call_in"}
    assert calls >= {
        "BootNotification",
        "StatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StopTransaction",
        "DataTransfer",
    }
    answered = {e["method"] for e in strict.events if e.get("event") == "result_in"}
    assert answered >= {"ReserveNow", "CancelReservation", "SendLocalList", "SetChargingProfile"}
