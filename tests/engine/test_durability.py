"""Nothing lost: transaction messages across outages, offline starts, restarts and a full queue."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ChargePointEngine, ConnectionState, MemoryStorage
from custom_components.ocpp_cp.engine.clock import SteppingClock
from tests.csms import TestCsms

from .conftest import EngineFactory
from .test_core import accepted_engine, wait_state

ENERGY = "Energy.Active.Import.Register"
TX_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")


def transaction_frames(csms: TestCsms) -> list[list[Any]]:
    """Every transaction CALL the CSMS received, raw, in arrival order."""
    frames = [json.loads(text) for text in csms.raw_in]
    return [f for f in frames if f[0] == 2 and f[2] in TX_ACTIONS]


def distinct(frames: list[list[Any]]) -> list[list[Any]]:
    """Once per unique id, as a CSMS that deduplicates sees them.

    A message in flight when the link drops is sent again after reconnect with the same
    unique id and payload (at-least-once): that is the only repeat allowed.
    """
    seen: dict[str, list[Any]] = {}
    resent = 0
    for frame in frames:
        if frame[1] in seen:
            assert seen[frame[1]] == frame, "same unique id, different message"
            resent += 1
        else:
            seen[frame[1]] = frame
    assert resent <= 1
    return list(seen.values())


def stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def configure(csms: TestCsms, **keys: str) -> None:
    for key, value in keys.items():
        result = await csms.call(call.ChangeConfiguration(key=key, value=value))
        assert result.status == "Accepted", key


async def wait_for_queue(engine: ChargePointEngine, count: int, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while engine.journal.pending < count:
            await asyncio.sleep(0.02)


async def wait_for_stop_queued(engine: ChargePointEngine, timeout: float = 15) -> None:
    """Until the StopTransaction is in the journal: it is written from a worker thread."""
    async with asyncio.timeout(timeout):
        while True:
            messages = await engine.journal.messages()
            if messages and messages[-1].action == "StopTransaction":
                return
            await asyncio.sleep(0.02)


async def test_outage_during_a_transaction_delivers_everything_once_in_order(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    engine = await accepted_engine(csms, make_engine, queue_path=str(tmp_path / "q.sqlite3"))
    await configure(csms, MeterValueSampleInterval="1")
    engine.set_reading(1, ENERGY, 1000)
    engine.set_plugged(1, True)
    await engine.swipe("T1")
    await csms.wait_for("StartTransaction")
    await csms.wait_for("MeterValues")
    engine.go_offline()
    await wait_state(engine, ConnectionState.DISCONNECTED)
    outage_started = datetime.now().timestamp()
    for step in range(4):  # the car keeps charging while the CSMS is away
        engine.set_reading(1, ENERGY, 1100 + 100 * step)
        await asyncio.sleep(0.9)
    engine.stop_transaction(1)
    await wait_for_stop_queued(engine)
    queued = engine.journal.pending
    assert queued >= 4  # MeterValues of the outage + StopTransaction
    reconnect_at = datetime.now().timestamp()
    engine.go_online()
    stop = await csms.wait_for("StopTransaction", timeout=10)
    assert stop["transaction_id"] == 1
    assert stop["meter_stop"] == 1400
    frames = distinct(transaction_frames(csms))
    actions = [f[2] for f in frames]
    assert actions[0] == "StartTransaction"
    assert actions[-1] == "StopTransaction"
    assert set(actions[1:-1]) == {"MeterValues"}
    outage = [
        f[3] for f in frames[1:-1] if stamp(f[3]["meterValue"][0]["timestamp"]) > outage_started
    ]
    assert len(outage) >= 3
    stamps = [stamp(p["meterValue"][0]["timestamp"]) for p in outage]
    assert stamps == sorted(stamps)  # in order
    assert all(s < reconnect_at for s in stamps)  # stamped when measured, not when sent
    assert all(p["transactionId"] == 1 for p in outage)
    async with asyncio.timeout(15):  # the answer to the Stop is on its way back
        while engine.journal.pending:
            await asyncio.sleep(0.01)
    await engine.journal.flush()
    assert await engine.journal.count() == 0


async def test_offline_start_gets_the_real_id_later(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    engine = await accepted_engine(csms, make_engine, queue_path=str(tmp_path / "q.sqlite3"))
    await configure(csms, AllowOfflineTxForUnknownId="true", MeterValueSampleInterval="1")
    csms.next_transaction_id = 41
    engine.go_offline()
    await wait_state(engine, ConnectionState.DISCONNECTED)
    engine.set_reading(1, ENERGY, 500)
    engine.set_plugged(1, True)
    assert await engine.swipe("OFFLINE1") == "started"  # authorised offline by configuration
    tx = engine.connectors[1].transaction
    assert tx is not None
    assert tx.transaction_id is None
    assert tx.local_id > 0
    await asyncio.sleep(1.5)
    engine.set_reading(1, ENERGY, 650)
    engine.stop_transaction(1)
    engine.go_online()
    stop = await csms.wait_for("StopTransaction")
    frames = distinct(transaction_frames(csms))
    assert frames[0][2] == "StartTransaction"
    assert frames[0][3]["idTag"] == "OFFLINE1"
    later = [f[3] for f in frames[1:]]
    assert later
    assert all(p["transactionId"] == 42 for p in later)
    assert (stop["transaction_id"], stop["meter_stop"]) == (42, 650)


async def test_restart_resumes_or_ends_with_reboot(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    queue = str(tmp_path / "q.sqlite3")
    storage = MemoryStorage()
    first = await accepted_engine(csms, make_engine, queue_path=queue, storage=storage)
    first.set_reading(1, ENERGY, 2000)
    first.set_plugged(1, True)
    await first.swipe("CAR")
    await csms.wait_for("StartTransaction")
    async with asyncio.timeout(15):
        while first.connectors[1].transaction.transaction_id is None:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
    await first.stop()  # Home Assistant restarts

    second = make_engine(csms.url, queue_path=queue, storage=storage)
    second.set_reading(1, ENERGY, 2300)
    await second.start()
    restored = second.connectors[1].transaction
    assert restored is not None
    assert (restored.transaction_id, restored.restored) == (1, True)
    second.set_plugged(1, True)  # the car is still there: same transaction goes on
    assert second.connectors[1].transaction is restored
    assert restored.restored is False
    await second.stop()

    third = make_engine(csms.url, queue_path=queue, storage=storage)
    third.set_reading(1, ENERGY, 2450)
    await third.start()
    await wait_state(third, ConnectionState.ACCEPTED)
    third.set_plugged(1, False)  # it left while we were down
    stop = await csms.wait_for("StopTransaction")
    assert (stop["transaction_id"], stop["reason"], stop["meter_stop"]) == (1, "Reboot", 2450)
    assert len(csms.actions("StartTransaction")) == 1  # no duplicate transaction


async def test_full_queue_thins_meter_values_but_keeps_start_and_stop(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    engine = await accepted_engine(
        csms,
        make_engine,
        queue_path=str(tmp_path / "q.sqlite3"),
        queue_limit=4,
        listener=lambda kind, data: events.append((kind, data)),
    )
    await configure(csms, AllowOfflineTxForUnknownId="true", MeterValueSampleInterval="1")
    engine.go_offline()
    await wait_state(engine, ConnectionState.DISCONNECTED)
    engine.set_reading(1, ENERGY, 100)
    engine.set_plugged(1, True)
    await engine.swipe("T")
    await wait_for_queue(engine, 4, timeout=8)  # Start + 3 MeterValues
    async with asyncio.timeout(15):  # one more sample: the queue is full and gets thinned
        while not engine.messages_thinned:
            await asyncio.sleep(0.02)
    engine.stop_transaction(1)
    thinned = [data for kind, data in events if kind == "queue_thinned"]
    assert thinned
    assert engine.messages_thinned >= 1
    await wait_for_stop_queued(engine)
    actions = [m.action for m in await engine.journal.messages()]
    assert actions[0] == "StartTransaction"
    assert actions[-1] == "StopTransaction"
    engine.go_online()
    stop = await csms.wait_for("StopTransaction")
    assert stop["transaction_id"] == 1
    delivered = [f[2] for f in distinct(transaction_frames(csms))]
    assert delivered.count("StartTransaction") == 1
    assert delivered.count("StopTransaction") == 1


async def test_corrupt_queue_file_keeps_the_charge_point_running(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    path = tmp_path / "q.sqlite3"
    path.write_bytes(b"garbage" * 500)
    events: list[tuple[str, dict[str, Any]]] = []
    engine = await accepted_engine(
        csms, make_engine, queue_path=str(path), listener=lambda k, d: events.append((k, d))
    )
    assert engine.storage_error is not None
    assert "is unusable" in engine.storage_error
    assert [d["message"] for k, d in events if k == "storage_error"] == [engine.storage_error]
    engine.set_plugged(1, True)
    await engine.swipe("T")
    await csms.wait_for("StartTransaction")
    engine.stop_transaction(1)
    await csms.wait_for("StopTransaction")
    assert path.read_bytes() == b"garbage" * 500  # the evidence is left for the user


async def test_simulated_hour_outage_with_10_s_sampling(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    """The CSMS is away for a (simulated) hour: 360 samples wait, then all arrive once, in order,
    stamped when they were measured."""
    clock = SteppingClock(start=datetime.now().timestamp())
    engine = await accepted_engine(
        csms, make_engine, queue_path=str(tmp_path / "q.sqlite3"), clock=clock
    )
    await configure(csms, MeterValueSampleInterval="10")
    engine.set_reading(1, ENERGY, 10_000)
    engine.set_plugged(1, True)
    engine.go_offline()
    await wait_state(engine, ConnectionState.DISCONNECTED)
    await configure_offline(engine)
    assert await engine.swipe("HOUR") == "started"
    outage_start = clock.time()
    energy = 10_000.0
    async with asyncio.timeout(30):
        while clock.time() - outage_start < 3600:  # the car charges for an hour, 11 kW
            energy = 10_000 + (clock.time() - outage_start) * 11000 / 3600
            engine.set_reading(1, ENERGY, energy)
            await asyncio.sleep(0)
    engine.stop_transaction(1)
    await wait_for_stop_queued(engine)
    samples = sum(1 for m in await engine.journal.messages() if m.action == "MeterValues")
    assert samples >= 359
    engine.go_online()
    stop = await csms.wait_for("StopTransaction", timeout=30)
    frames = distinct(transaction_frames(csms))
    assert [f[2] for f in frames] == ["StartTransaction"] + ["MeterValues"] * samples + [
        "StopTransaction"
    ]
    stamps = [stamp(f[3]["meterValue"][0]["timestamp"]) for f in frames[1:-1]]
    gaps = {round(b - a) for a, b in itertools.pairwise(stamps)}
    assert gaps == {10}  # stamped every 10 s of (simulated) measurement time
    assert stamps[-1] - stamps[0] >= 3580
    assert all(f[3]["transactionId"] == 1 for f in frames[1:])
    assert stop["meter_stop"] == round(energy)
    assert stop["meter_stop"] > 20_900


async def configure_offline(engine: ChargePointEngine) -> None:
    outcome, _ = engine.config.change("AllowOfflineTxForUnknownId", "true")
    assert outcome == "Accepted"
