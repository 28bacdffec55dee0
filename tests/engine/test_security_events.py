"""Security events: the security log and SecurityEventNotification against a real CSMS."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from ocpp import exceptions as ocpp_errors
from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ChargePointEngine, ConnectionState, SecurityProfile
from custom_components.ocpp_cp.engine.connection import ConnectErrorKind
from custom_components.ocpp_cp.engine.services import security_events
from tests.csms import TestCsms

from .conftest import EngineFactory, no_call_in_flight

SEN = "SecurityEventNotification"


async def wait_state(
    engine: ChargePointEngine, state: ConnectionState, timeout: float = 15
) -> None:
    async with asyncio.timeout(timeout):
        while engine.state != state:
            await asyncio.sleep(0.01)


async def until(predicate: Any, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def none_queued(engine: ChargePointEngine, timeout: float = 15) -> None:
    """Until every queued event has been answered and removed (from a worker thread)."""
    async with asyncio.timeout(timeout):
        while await engine.services.security.queued():
            await asyncio.sleep(0.02)


def raw_calls(csms: TestCsms, action: str) -> list[list[Any]]:
    frames = [json.loads(text) for text in csms.raw_in]
    return [f for f in frames if f[0] == 2 and f[2] == action]


def types_sent(csms: TestCsms) -> list[str]:
    return [p["type"] for p in csms.actions(SEN)]


async def test_startup_is_logged_and_notified_frame_by_frame(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    engine = make_engine(csms.url, listener=lambda kind, data: events.append((kind, data)))
    await engine.start()
    await csms.wait_for(SEN)
    frame = raw_calls(csms, SEN)[0]
    assert frame[3]["type"] == "StartupOfTheDevice"
    assert frame[3]["techInfo"] == "The charge point has started"
    assert frame[3]["timestamp"].endswith("Z")
    assert set(frame[3]) == {"type", "timestamp", "techInfo"}
    # It goes out after the BootNotification was accepted, never before.
    actions = [json.loads(t)[2] for t in csms.raw_in if json.loads(t)[0] == 2]
    assert actions.index("BootNotification") < actions.index(SEN)
    log = await engine.services.security.entries()
    assert [(e.type, e.critical) for e in log] == [("StartupOfTheDevice", True)]
    assert log[0].timestamp == frame[3]["timestamp"]
    await until(lambda: any(kind == "security_event_delivered" for kind, _ in events))
    assert await engine.services.security.queued() == []
    logged = [data for kind, data in events if kind == "security_event"]
    assert logged == [
        {
            "timestamp": frame[3]["timestamp"],
            "type": "StartupOfTheDevice",
            "tech_info": "The charge point has started",
            "critical": True,
        }
    ]


async def test_only_critical_events_are_sent(csms: TestCsms, make_engine: EngineFactory) -> None:
    engine = make_engine(csms.url)
    await engine.start()
    await csms.wait_for(SEN)
    engine.ctx.security_event("InvalidFirmwareSignature", "signature does not verify")
    engine.ctx.security_event("ReconfigurationOfSecurityParameters", "SecurityProfile 1")
    engine.ctx.security_event("TamperDetectionActivated", "lid opened")
    await csms.wait_for(SEN, lambda p: p["type"] == "TamperDetectionActivated")
    # The queue is ordered: the non-critical ones before it would have gone out first.
    assert types_sent(csms) == ["StartupOfTheDevice", "TamperDetectionActivated"]
    log = await engine.services.security.entries()
    assert [(e.type, e.critical, e.tech_info) for e in log] == [
        ("StartupOfTheDevice", True, "The charge point has started"),
        ("InvalidFirmwareSignature", False, "signature does not verify"),
        ("ReconfigurationOfSecurityParameters", False, "SecurityProfile 1"),
        ("TamperDetectionActivated", True, "lid opened"),
    ]
    assert [e.type for e in await engine.services.security.entries(2)] == [
        "ReconfigurationOfSecurityParameters",
        "TamperDetectionActivated",
    ]


async def test_events_raised_offline_survive_a_restart_in_order(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    queue = str(tmp_path / "queue.sqlite3")
    csms = await TestCsms.start()
    try:
        url = csms.url
        await csms.stop()  # nobody listens on that port now
        first = make_engine(url, queue_path=queue)
        await first.start()
        await first.services.security.record("FirmwareUpdated", "to 2.0")
        await first.services.security.record("TamperDetectionActivated")
        await first.services.security.record("InvalidMessages", "garbage")
        await first.stop()

        csms = await TestCsms.start(port=int(url.rsplit(":", 1)[1].split("/")[0]))
        second = make_engine(url, queue_path=queue)
        await second.start()
        await csms.wait_for(SEN, lambda p: p["type"] == "StartupOfTheDevice", after=1)
        await until(lambda: len(csms.actions(SEN)) == 4)
        await none_queued(second)
        await asyncio.sleep(0.3)  # then nothing more is sent
        sent = csms.actions(SEN)
        assert [(p["type"], p.get("tech_info")) for p in sent] == [
            ("StartupOfTheDevice", "The charge point has started"),
            ("FirmwareUpdated", "to 2.0"),
            ("TamperDetectionActivated", None),
            ("StartupOfTheDevice", "The charge point has started"),
        ]
        stamps = [p["timestamp"] for p in sent]
        assert stamps == sorted(stamps)  # the time each happened, not the time it was sent
        log = await second.services.security.entries()
        assert [e.type for e in log] == [
            "StartupOfTheDevice",
            "FirmwareUpdated",
            "TamperDetectionActivated",
            "InvalidMessages",
            "StartupOfTheDevice",
        ]
        assert await second.services.security.queued() == []
    finally:
        await csms.stop()


async def test_reset_is_logged_and_notified(csms: TestCsms, make_engine: EngineFactory) -> None:
    engine = make_engine(csms.url)
    await engine.start()
    await csms.wait_for(SEN)
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
    await no_call_in_flight(engine)  # when the reset drops the link
    result = await csms.call(call.Reset(type="Hard"))
    assert result.status == "Accepted"
    reset = await csms.wait_for(SEN, lambda p: p["type"] == "ResetOrReboot")
    assert reset["tech_info"] == "Hard reset requested by the CSMS"
    # It went out after the reboot's new BootNotification was accepted.
    boots = [i for i, r in enumerate(csms.received) if r.action == "BootNotification"]
    position = next(
        i for i, r in enumerate(csms.received) if r.payload.get("type") == "ResetOrReboot"
    )
    assert len(boots) == 2 and boots[1] < position


async def test_refused_credentials_are_logged_once_per_refusal(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    csms.expected_password = "the-right-key-0123"
    engine = make_engine(
        csms.url,
        security_profile=SecurityProfile.BASIC_AUTH,
        authorization_key="a-wrong-key-98765",
    )
    await engine.start()
    await until(lambda: engine.last_error_kind == ConnectErrorKind.UNAUTHORIZED)
    await asyncio.sleep(0.5)  # several redials at 0.05-0.2 s
    await asyncio.gather(*engine.ctx.persisting)
    log = await engine.services.security.entries()
    failures = [e for e in log if e.type == "FailedToAuthenticateAtCentralSystem"]
    assert len(failures) == 1
    assert not failures[0].critical
    assert "401" in (failures[0].tech_info or "")
    assert "a-wrong-key" not in json.dumps([e.to_dict() for e in log])
    assert csms.connection_count == 0


async def test_invalid_frames_are_logged_at_most_once_a_second(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = make_engine(csms.url)
    await engine.start()
    await wait_state(engine, ConnectionState.ACCEPTED)
    for _ in range(5):
        await csms.send_raw("this is not JSON")
    await csms.send_raw('[2,"bad-1","ChangeAvailability",{"connectorId":"one"}]')
    await csms.wait_raw(lambda f: f[0] == 4 and f[1] == "bad-1")
    await asyncio.gather(*engine.ctx.persisting)
    invalid = [e for e in await engine.services.security.entries() if e.type == "InvalidMessages"]
    assert [e.tech_info for e in invalid] == ["malformed frame: frame is not JSON"]
    await asyncio.sleep(security_events.FLOOD_INTERVAL)
    await csms.send_raw('[2,"bad-2","Reset",{"type":"Sideways"}]')
    await csms.wait_raw(lambda f: f[0] == 4 and f[1] == "bad-2")
    await asyncio.gather(*engine.ctx.persisting)
    invalid = [e for e in await engine.services.security.entries() if e.type == "InvalidMessages"]
    assert len(invalid) == 2
    assert invalid[1].tech_info is not None
    assert invalid[1].tech_info.startswith("Reset FormationViolation")
    assert invalid[1].tech_info.endswith("(+5 more since)")
    assert not invalid[1].critical
    assert types_sent(csms) == ["StartupOfTheDevice"]


async def test_a_csms_without_the_extension_does_not_hold_anything_up(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    csms.security_event_errors = 1  # NotImplemented, as a CSMS without the extension says
    events: list[str] = []
    engine = make_engine(csms.url, listener=lambda kind, data: events.append(kind))
    await engine.start()
    await csms.wait_for(SEN)
    await until(lambda: "security_event_dropped" in events)
    assert len(raw_calls(csms, SEN)) == 1  # not retried: the CSMS has no use for it
    assert await engine.services.security.queued() == []
    engine.set_plugged(1, True)
    await engine.swipe("TAG1")
    await csms.wait_for("StartTransaction")


async def test_a_callerror_is_retried_with_the_same_unique_id(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = make_engine(csms.url)
    await engine.start()
    await csms.wait_for(SEN)
    result = await csms.call(
        call.ChangeConfiguration(key="TransactionMessageRetryInterval", value="1")
    )
    assert result.status == "Accepted"
    csms.security_event_error = ocpp_errors.InternalError
    csms.security_event_errors = 1
    loop = asyncio.get_running_loop()
    raised = loop.time()
    engine.ctx.security_event("MemoryExhaustion", "heap low")
    await until(lambda: len(raw_calls(csms, SEN)) == 3)
    first, second = raw_calls(csms, SEN)[1:]
    assert first == second  # same unique id, same payload
    answered = [r.at for r in csms.received if r.payload.get("type") == "MemoryExhaustion"]
    assert answered[1] - raised >= 1.0  # attempt 1 waits 1 x TransactionMessageRetryInterval
    await none_queued(engine)


async def test_the_log_rotates_and_says_so(
    csms: TestCsms, make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security_events, "LOG_LIMIT", 20)
    monkeypatch.setattr(security_events, "ROTATE_DROP", 5)
    engine = make_engine(csms.url)
    await engine.start()
    await csms.wait_for(SEN)
    security = engine.services.security
    for n in range(20):  # 21 rows with StartupOfTheDevice: one rotation
        await security.record("InvalidTLSVersion", f"attempt {n}")
    log = await security.entries()
    assert len(log) == 20 - 5 + 1 + 1
    assert [e.tech_info for e in log[:2]] == ["attempt 4", "attempt 5"]
    assert (log[-2].type, log[-2].tech_info) == ("InvalidTLSVersion", "attempt 19")
    assert (log[-1].type, log[-1].critical) == ("SecurityLogWasCleared", True)
    assert log[-1].tech_info == "Security log rotated: 5 oldest dropped"
    assert log[-1].timestamp > log[-2].timestamp
    cleared = await csms.wait_for(SEN, lambda p: p["type"] == "SecurityLogWasCleared")
    assert cleared["timestamp"] == log[-1].timestamp
    for n in range(20, 23):
        await security.record("InvalidTLSVersion", f"attempt {n}")
    assert len(await security.entries()) == 20  # full, not over: no second rotation yet
    assert [e.tech_info for e in await security.entries(2)] == ["attempt 21", "attempt 22"]
    await security.record("InvalidTLSVersion", "attempt 23")
    log = await security.entries()
    assert len(log) == 17
    assert [e.type for e in log[-2:]] == ["InvalidTLSVersion", "SecurityLogWasCleared"]


async def test_bad_event_types_are_refused(csms: TestCsms, make_engine: EngineFactory) -> None:
    engine = make_engine(csms.url)
    await engine.start()
    for kind, info in (("", None), ("Not A Type", None), ("X" * 51, None), ("Ok", "i" * 256)):
        try:
            await engine.services.security.record(kind, info)
        except ValueError:
            continue
        raise AssertionError(f"{kind!r} {info!r} was accepted")
    await asyncio.gather(*engine.ctx.persisting)
    assert [e.type for e in await engine.services.security.entries()] == ["StartupOfTheDevice"]


async def test_the_queue_is_bounded_while_no_csms_accepts(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security_events, "QUEUE_LIMIT", 3)
    csms = await TestCsms.start()
    url = csms.url
    await csms.stop()  # nobody answers: everything stays queued
    engine = make_engine(url)
    await engine.start()
    security = engine.services.security
    entries = [await security.record("TamperDetectionActivated", f"lid {n}") for n in range(5)]
    assert all(entry is not None for entry in entries)
    assert len(await security.queued()) == 3
    assert len(await security.entries()) == 6  # the log keeps them all


async def test_a_burst_of_events_is_logged_in_the_order_raised(
    tmp_path: Path, make_engine: EngineFactory
) -> None:
    """Events raised back to back without awaiting (as the engine raises them) land in the
    log in that order, stamps increasing: ctx.persist and the journal's single worker order
    the writes (no chaining of one write to the one before)."""
    engine = make_engine("ws://127.0.0.1:9/ocpp", queue_path=str(tmp_path / "queue.sqlite3"))
    await engine.start()
    engine.go_offline()
    security = engine.services.security
    for n in range(50):
        engine.ctx.security_event("InvalidTLSVersion" if n % 2 else "FirmwareUpdated", f"{n}")
    await security.record("TamperDetectionActivated", "last")
    log = [e for e in await security.entries() if e.type != "StartupOfTheDevice"]
    assert [e.tech_info for e in log] == [*(f"{n}" for n in range(50)), "last"]
    assert [e.timestamp for e in log] == sorted(e.timestamp for e in log)
    critical = [e for e in await security.entries() if e.critical]
    assert len(await security.queued()) == len(critical) == 25 + 1 + 1  # + StartupOfTheDevice
