"""Bad input from the CSMS gets the OCPP-J 1.6 CALLERROR, and the link and state survive it."""

from __future__ import annotations

import asyncio
import json

import pytest
from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ConnectionState
from tests.csms import TestCsms

from .conftest import EngineFactory, no_call_in_flight
from .test_core import accepted_engine

VALID_BOOT = {"chargePointVendor": "x", "chargePointModel": "y"}

# (frame sent by the CSMS, the unique id the answer must carry, the expected error code)
ANSWERED = [
    ('[2,"w1","Bogus",{}]', "w1", "NotImplemented"),
    (json.dumps([2, "w2", "BootNotification", VALID_BOOT]), "w2", "NotSupported"),
    ('[2,"w3","GetDiagnostics",{}]', "w3", "FormationViolation"),
    ('[2,"w4","Reset",{}]', "w4", "FormationViolation"),
    ('[2,"w5","Reset",{"type":"Warm"}]', "w5", "FormationViolation"),
    ('[2,"w6","Reset",{"type":"Hard","extra":1}]', "w6", "FormationViolation"),
    ('[2,"w7","ChangeConfiguration",{"key":5,"value":"1"}]', "w7", "FormationViolation"),
    (
        json.dumps([2, "w8", "RemoteStartTransaction", {"idTag": "X" * 21}]),
        "w8",
        "FormationViolation",
    ),
    ('[2,"w9","Reset",[]]', "w9", "FormationViolation"),
    ('[2,"w10","Reset"]', "w10", "GenericError"),
    ('[5,"w11",{}]', "w11", "GenericError"),
    ('[2,"w12","GetConfiguration",{"key":"HeartbeatInterval"}]', "w12", "FormationViolation"),
    ('[2,"w13",7,{}]', "w13", "GenericError"),
    (
        json.dumps([2, "w14", "DataTransfer", {"vendorId": "v", "data": "x" * 300_000}]),
        "w14",
        "GenericError",
    ),
]

# Frames that must be dropped without an answer.
DROPPED = [
    "this is not json",
    '{"not": "an array"}',
    "[]",
    '[3,"no-such-call",{}]',
    '[4,"no-such-call","GenericError","",{}]',
    '[3,"malformed"]',
    "\u0000\u0001",
]


@pytest.mark.parametrize(("frame", "unique_id", "code"), ANSWERED)
async def test_malformed_call_gets_the_spec_error_code(
    csms: TestCsms, make_engine: EngineFactory, frame: str, unique_id: str, code: str
) -> None:
    engine = await accepted_engine(csms, make_engine)
    mark = len(csms.raw_in)
    await csms.send_raw(frame)
    answer = await csms.wait_raw(lambda f: f[0] in (3, 4) and f[1] == unique_id, after=mark)
    assert answer[0] == 4
    assert answer[2] == code
    assert isinstance(answer[3], str)
    assert isinstance(answer[4], dict)
    # the link and the state survive
    assert engine.state == ConnectionState.ACCEPTED
    result = await csms.call(call.GetConfiguration(key=["NumberOfConnectors"]))
    assert result.configuration_key[0]["value"] == "1"
    assert csms.connection_count == 1


async def test_unparseable_frames_are_dropped_and_the_link_survives(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    mark = len(csms.raw_in)
    for frame in DROPPED:
        await csms.send_raw(frame)
    result = await csms.call(call.GetConfiguration(key=["NumberOfConnectors"]))
    assert result.configuration_key[0]["value"] == "1"
    await asyncio.sleep(0.1)
    answers = [json.loads(t) for t in csms.raw_in[mark:]]
    # only the GetConfiguration result came back: no CALLERROR for any dropped frame
    assert [a[0] for a in answers] == [3]
    assert engine.state == ConnectionState.ACCEPTED
    assert csms.connection_count == 1


async def test_callresult_with_unknown_id_is_ignored_mid_call(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    await csms.send_raw('[3,"not-ours",{"currentTime":"2026-01-01T00:00:00Z"}]')
    result = await engine.data_transfer("ocpp_cp", "ping")
    assert result["status"] == "Accepted"


async def test_invalid_answer_from_csms_is_a_failed_call(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    sent: list[str] = []
    original = csms.session.side._send

    async def corrupt(message: str) -> None:
        frame = json.loads(message)
        if frame[0] == 3 and "status" in frame[2]:
            frame[2]["status"] = "Whatever"  # not in the DataTransfer status enum
        sent.append(json.dumps(frame))
        await original(json.dumps(frame))

    csms.session.side._send = corrupt
    from custom_components.ocpp_cp.engine.ocpp16.frames import OcppCallError

    with pytest.raises(OcppCallError) as err:
        await engine.data_transfer("ocpp_cp", "ping")
    assert err.value.code == "PropertyConstraintViolation"
    assert engine.state == ConnectionState.ACCEPTED


async def test_a_call_waiting_its_turn_counts_as_unfinished_while_the_lock_passes_to_it(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """CALLs go one at a time; a released call lock stays unlocked for a loop pass before the
    next waiter takes it. ``unfinished_calls`` counts that waiter throughout: a benchmark that
    read the lock alone counted a boot-time StatusNotification, still waiting, as its own."""
    engine = await accepted_engine(csms, make_engine)
    await no_call_in_flight(engine)
    wire = engine.wire
    first = asyncio.create_task(engine.data_transfer("ocpp_cp", "first"))
    second = asyncio.create_task(engine.data_transfer("ocpp_cp", "second"))
    handover_passes: list[int] = []
    await asyncio.sleep(0)  # both tasks have started
    async with asyncio.timeout(10):
        while not second.done():
            if first.done() and not wire._call_lock.locked():
                handover_passes.append(wire.unfinished_calls)
            else:
                assert wire.unfinished_calls >= 1
            await asyncio.sleep(0)
    assert first.result()["status"] == "Accepted"
    assert second.result()["status"] == "Accepted"
    assert handover_passes, "the lock never looked free between the two calls"
    assert all(count == 1 for count in handover_passes)
    assert wire.unfinished_calls == 0
