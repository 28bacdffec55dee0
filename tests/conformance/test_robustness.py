"""Robustness: the OCPP-J transport, broken input from the CSMS, and feature profiles the
charge point does not offer (OCPP-J 1.6 sections 3-4; OCPP 1.6 edition 2, section 3.3)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from .conftest import Launch
from .harness import (
    CALL,
    ERROR,
    RESULT,
    Csms,
    begin,
    calls,
    conf,
    err,
    req,
)

# (action, payload) pairs that break the 1.6 JSON schema of the action.
SCHEMA_VIOLATIONS: list[tuple[str, dict[str, Any], str]] = [
    ("ChangeConfiguration", {"key": "HeartbeatInterval"}, "a required field is missing"),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": 60}, "a wrong type"),
    ("RemoteStartTransaction", {"idTag": "X" * 21}, "a string longer than its CiString20"),
    ("ChangeAvailability", {"connectorId": 1, "type": "Sometimes"}, "a value outside the enum"),
    ("Reset", {"type": "Soft", "extra": 1}, "an additional property"),
    (
        "ReserveNow",
        {"connectorId": 1, "expiryDate": "tomorrow", "idTag": "A", "reservationId": 1},
        "a date-time that is no date-time",
    ),
    ("UnlockConnector", {"connectorId": "one"}, "a string for an integer"),
]


async def raw_call(csms: Csms, frame: list[Any], unique_id: str) -> Any:
    """Send a raw frame; the charge point's answer with ``unique_id``, if any, within 10 s."""
    mark = csms.mark()
    await csms.send_raw(json.dumps(frame))
    try:
        return await csms.wait(
            lambda f: f.sender == "cp" and f.kind in (RESULT, ERROR) and f.unique_id == unique_id,
            mark,
            timeout=10,
        )
    except AssertionError:
        return None


async def test_websocket_url_and_subprotocol(csms: Csms, launch: Launch) -> None:
    """The charge point connects to the CSMS URL followed by "/" and its identity, asking
    for the ocpp1.6 subprotocol (OCPP-J 1.6 sections 3.1.1, 3.1.2)."""
    await launch()
    link = csms.link
    assert link.path == "/ocpp/CP1"
    assert link.websocket.subprotocol == "ocpp1.6"


async def test_schema_violations_from_the_csms_are_answered_formation_violation(
    csms: Csms, launch: Launch
) -> None:
    """A CALL whose payload breaks the action's JSON schema (missing field, wrong type, string
    too long, bad enum, extra property, bad date-time) is answered with a CALLERROR
    FormationViolation, nothing is changed and the connection stays up (OCPP-J 1.6 section
    4.2.3, the reading of libocpp and the conformance tools)."""
    sim = await launch()
    wrong: list[str] = []
    for action, payload, what in SCHEMA_VIOLATIONS:
        answer = await csms.call(action, payload, validate=False)
        if answer.kind != ERROR or answer.error != "FormationViolation":
            wrong.append(f"{action} with {what}: {answer.raw}")
    assert not wrong, "not answered FormationViolation:\n" + "\n".join(wrong)
    config = await csms.configuration("HeartbeatInterval")
    assert config["HeartbeatInterval"]["value"] == "300"
    assert not sim.find("hardware", action="reset")
    assert not sim.find("transaction")
    assert {link.number for link in csms.links} == {1}, "the connection stays up"


async def test_unknown_action_is_answered_not_implemented(csms: Csms, launch: Launch) -> None:
    """A CALL of an action OCPP 1.6 does not define: CALLERROR NotImplemented
    (OCPP-J 1.6 section 4.2.3)."""
    await launch()
    answer = await csms.call("MakeCoffee", {"sugar": 2}, validate=False)
    assert answer.kind == ERROR
    assert answer.error == "NotImplemented", answer.raw
    assert await csms.ask("GetLocalListVersion") is not None


async def test_action_of_a_profile_the_charge_point_lacks_is_answered_not_supported(
    csms: Csms, launch: Launch
) -> None:
    """A well-formed CALL of the FirmwareManagement profile, left out with --feature-profiles
    (GetDiagnostics, UpdateFirmware): CALLERROR NotSupported (OCPP-J 1.6 section 4.2.3,
    OCPP 1.6 section 3.3)."""
    await launch(
        "--feature-profiles", "Core,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging"
    )
    diagnostics = await csms.call("GetDiagnostics", {"location": "ftp://127.0.0.1/upload"})
    assert (diagnostics.kind, diagnostics.error) == (ERROR, "NotSupported"), diagnostics.raw
    firmware = await csms.call(
        "UpdateFirmware",
        {"location": "http://127.0.0.1/fw.bin", "retrieveDate": "2030-01-01T00:00:00Z"},
    )
    assert (firmware.kind, firmware.error) == (ERROR, "NotSupported"), firmware.raw
    profiles = (await csms.configuration("SupportedFeatureProfiles"))["SupportedFeatureProfiles"]
    assert "FirmwareManagement" not in profiles["value"].split(",")


async def test_core_only_charge_point_refuses_the_other_profiles(
    csms: Csms, launch: Launch
) -> None:
    """A charge point offering only Core (--feature-profiles Core): SupportedFeatureProfiles is
    "Core"; the messages of the other profiles are answered CALLERROR NotSupported, except
    SendLocalList (status NotSupported) and GetLocalListVersion (-1), whose own answers say
    so; their configuration keys are unknown (sections 3.3, 5.10, 5.15, 9.2-9.4)."""
    await launch("--feature-profiles", "Core")
    profiles = (await csms.configuration("SupportedFeatureProfiles"))["SupportedFeatureProfiles"]
    assert profiles["value"] == "Core"
    schedule = {
        "chargingRateUnit": "A",
        "startSchedule": "2030-01-01T00:00:00Z",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
    }
    refused: dict[str, dict[str, Any]] = {
        "TriggerMessage": {"requestedMessage": "Heartbeat"},
        "ReserveNow": {
            "connectorId": 1,
            "expiryDate": "2030-01-01T00:00:00Z",
            "idTag": "A",
            "reservationId": 1,
        },
        "CancelReservation": {"reservationId": 1},
        "SetChargingProfile": {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": schedule,
            },
        },
        "GetCompositeSchedule": {"connectorId": 1, "duration": 60},
        "ClearChargingProfile": {"id": 1},
    }
    wrong: list[str] = []
    for action, payload in refused.items():
        answer = await csms.call(action, payload)
        if (answer.kind, answer.error) != (ERROR, "NotSupported"):
            wrong.append(f"{action}: {answer.raw}")
    assert not wrong, "not answered NotSupported:\n" + "\n".join(wrong)
    assert (await csms.ask("SendLocalList", {"listVersion": 1, "updateType": "Full"})) == {
        "status": "NotSupported"
    }
    assert (await csms.ask("GetLocalListVersion")) == {"listVersion": -1}
    hidden = [
        "LocalAuthListEnabled",
        "ReserveConnectorZeroSupported",
        "ChargeProfileMaxStackLevel",
        "MaxChargingProfilesInstalled",
    ]
    result = await csms.ask("GetConfiguration", {"key": hidden})
    assert sorted(result.get("unknownKey", [])) == sorted(hidden)


async def test_unparseable_and_malformed_frames_leave_the_connection_up(
    csms: Csms, launch: Launch
) -> None:
    """Frames that are not OCPP-J: text that is not JSON is dropped; a CALL with a usable
    unique id but the wrong shape is answered with a CALLERROR for that id; a CALLRESULT for
    an unknown unique id is ignored. The connection and the charge point stay up
    (OCPP-J 1.6 sections 4.1, 4.2.3)."""
    sim = await launch()
    mark = csms.mark()
    await csms.send_raw("this is not json")
    await csms.send_raw('{"not": "an array"}')
    await csms.send_raw(json.dumps([RESULT, str(uuid.uuid4()), {"status": "Accepted"}]))
    short_id = str(uuid.uuid4())
    short = await raw_call(csms, [CALL, short_id, "Heartbeat"], short_id)
    assert short is not None and short.kind == ERROR, "a CALL without payload gets a CALLERROR"
    object_id = str(uuid.uuid4())
    not_object = await raw_call(csms, [CALL, object_id, "Heartbeat", ["x"]], object_id)
    assert not_object is not None and not_object.kind == ERROR
    await asyncio.sleep(0.2)
    frames = csms.since(mark)
    answers = [f for f in frames if f.sender == "cp" and f.kind in (RESULT, ERROR)]
    assert {f.unique_id for f in answers} == {short_id, object_id}, [f.raw for f in answers]
    assert (await csms.ask("GetLocalListVersion"))["listVersion"] == 0
    assert {link.number for link in csms.links} == {1}
    assert sim.process.returncode is None


async def test_the_charge_point_has_one_call_in_flight_at_a_time(
    csms: Csms, launch: Launch
) -> None:
    """A busy charge point (two transactions, sampled and clock-aligned meter values every
    second, heartbeats, triggers) against a slow CSMS still sends one CALL at a time, each
    only after the previous one was answered (OCPP-J 1.6 section 4.1.1)."""
    sim = await launch(connectors=2)
    await csms.configure(
        MeterValueSampleInterval=1,
        ClockAlignedDataInterval=1,
        HeartbeatInterval=1,
        MeterValuesAlignedData="Energy.Active.Import.Register",
    )
    csms.answer_delay = 0.05
    await begin(csms, sim, "TAG1", 1)
    await begin(csms, sim, "TAG2", 2)
    mark = csms.mark()
    for message in ("StatusNotification", "MeterValues", "Heartbeat"):
        await csms.call("TriggerMessage", {"requestedMessage": message})
    await asyncio.sleep(1.5)
    await sim.do("swipe TAG1")
    await sim.do("unplug 2")
    await csms.wait(req("StopTransaction", transactionId=1002), mark)
    await csms.quiet(0.3)
    assert len(calls(csms.since(mark))) >= 8, "the charge point was not busy"
    assert not csms.overlaps, "several CALLs in flight:\n" + "\n".join(csms.overlaps)
    assert any(conf("TriggerMessage", status="Accepted")(f) for f in csms.since(mark))
    assert not any(err("TriggerMessage")(f) for f in csms.since(mark))


async def test_a_transaction_message_the_csms_keeps_refusing_is_retried_then_skipped(
    csms: Csms, launch: Launch
) -> None:
    """A StopTransaction the CSMS answers with a CALLERROR is sent again after
    TransactionMessageRetryInterval x attempts, at most TransactionMessageAttempts times, then
    skipped, so later transaction messages still flow (sections 3.7.1, 9.1
    TransactionMessageAttempts, TransactionMessageRetryInterval)."""
    sim = await launch()
    await csms.configure(TransactionMessageAttempts=2, TransactionMessageRetryInterval=1)
    transaction_id = await begin(csms, sim)
    csms.refuse["StopTransaction"] = 5
    mark = csms.mark()
    await sim.do("swipe TAG1")
    await sim.do("unplug 1")
    first = await csms.wait(req("StopTransaction", transactionId=transaction_id), mark)
    second = await csms.wait(
        req("StopTransaction", transactionId=transaction_id), csms.frames.index(first) + 1
    )
    assert second.at - first.at >= 0.9, "wait TransactionMessageRetryInterval before retrying"
    await csms.quiet(2.3)
    stops = calls(csms.since(mark), "StopTransaction")
    assert len(stops) == 2, f"{len(stops)} attempts, TransactionMessageAttempts is 2"
    csms.refuse.clear()
    next_id = await begin(csms, sim, "TAG2")
    assert next_id != transaction_id
