"""Outage benchmark: how fast the engine delivers a 10,000-message backlog after reconnecting.

Run:  $(bash scripts/venv.sh)/bin/python benchmarks/outage.py [--quick] [--json FILE]
                                                              [--same-process] [--profile FILE]

1. Backlog (in a fresh ``spawn`` subprocess, so that step 3 starts in a process that has not
   run an engine yet, as after a Home Assistant restart): an engine with a journal file and
   the CSMS away (``go_offline()`` before ``start()``: it never dials) starts a transaction
   offline (AllowOfflineTxForUnknownId = true; ``swipe`` returns once the StartTransaction is
   committed), then writes N - 2 MeterValues the way the sampler does without its clock
   (``MeteringService._sample_loop``): readings through ``set_reading``, ten sampled values
   built by the engine's ``sampled_values`` with its ``offered`` current and a ``now_stamp``
   time stamp, an ``Outbound`` (``engine/journal.py``), and ``await
   engine.services.transactions.record(tx, message)``: one SQLite commit (WAL,
   synchronous=FULL, so fsynced) of the transaction's state and the message, awaited one at
   a time as the sampler awaits it. Then ``stop_transaction`` (its StopTransaction commit is
   awaited through ``engine.ctx.persisting``), a check that the journal holds N messages,
   and ``engine.stop()``. The file sizes after the stop give the disk bytes per MeterValues.
   In a second fresh subprocess, ``ChargePointEngine(...)`` + ``start()`` on an empty
   journal gives the RSS baseline for step 3.
2. Round-trip floor: a raw ``websockets`` client sends N MeterValues (the backlog's own
   payloads with a transactionId, spliced into the frame as text) to the same CSMS one at a
   time, each waiting for its CALLRESULT. Messages/s and CPU per message.
3. Startup and delivery: a new ``ChargePointEngine`` on the same journal file, pointed at
   the CSMS. Startup = ``ChargePointEngine(...)`` + ``await engine.start()`` until it
   returns (``Journal.open`` counts the backlog, ``engine.journal.pending``; nothing of it is
   loaded: ``engine.services.delivery`` reads it from SQLite ``PAGE`` (256) messages at a
   time once connected), and until the first frame / the first backlog message arrives at
   the CSMS; VmRSS growth over it, and the highest growth until delivered (polled). Delivery
   = from the engine's state turning "accepted" (listener event) until the CSMS has received
   the StopTransaction; the engine is done when ``engine.services.delivery.idle`` is set.
   The CSMS's log is then checked: exactly N distinct transaction messages, in the journal's
   order (``seq``), StartTransaction first, StopTransaction last, every MeterValues and the
   StopTransaction with the transactionId the CSMS gave; the journal file must be empty
   after ``stop()``. A failed check raises ``BenchmarkError`` after the report is printed.

The CSMS is a raw ``websockets`` server on 127.0.0.1, port 0, subprotocol ocpp1.6, without
compression, answering every CALL at once with a pre-built CALLRESULT (BootNotification
Accepted, StartTransaction with a transactionId and idTagInfo Accepted, StopTransaction and
Authorize idTagInfo, Heartbeat currentTime, everything else ``{}``). By default it runs in a
separate process (``multiprocessing``, spawn), so the charge point's and the CSMS's CPU do
not share one core; ``--same-process`` runs it in this process's event loop. Times across
the two processes compare ``time.perf_counter()``, which on Linux is the system-wide
CLOCK_MONOTONIC.

Targets (printed with met / MISSED, no pass/fail exit code): backlog replay at least 0.8x
the round-trip floor's msg/s (same run); VmRSS growth over start-up with the backlog under
5 MB; at least 1,000 messages/s; start() and the first backlog message at the CSMS under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import json
import multiprocessing
import os
import platform
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from custom_components.ocpp_cp.engine import (  # noqa: E402
    ChargePointEngine,
    ConnectionState,
    EngineSettings,
    MemoryStorage,
    NullHardware,
)
from custom_components.ocpp_cp.engine.journal import Journal, Outbound  # noqa: E402
from custom_components.ocpp_cp.engine.meter import sampled_values  # noqa: E402
from custom_components.ocpp_cp.engine.ocpp16.validation import load_validators  # noqa: E402
from custom_components.ocpp_cp.engine.services.delivery import PAGE  # noqa: E402

SUBPROTOCOL = Subprotocol("ocpp1.6")
FULL_MESSAGES = 10_000
QUICK_MESSAGES = 1_000
CP_ID = "CP1"
FLOOR_ID = "FLOOR"
ID_TAG = "BACKLOG"
CONNECTOR_ID = 1
TRANSACTION_ID = 7301  # what the CSMS answers to StartTransaction
TX_ACTIONS = frozenset({"StartTransaction", "MeterValues", "StopTransaction"})
OFFLINE_URL = "ws://127.0.0.1:9"  # never dialled: the engine is offline from the start
OP_TIMEOUT = 10.0  # one connect, call or small step
BUILD_TIMEOUT = 600.0  # building the backlog (one fsync per message)
DELIVERY_TIMEOUT = 300.0  # the floor's run; a CSMS answer over the pipe
CSMS_LIFETIME = 1800.0  # the CSMS subprocess exits by itself after this
CSMS_MAX_POLLS = 100_000  # and after this many command polls
CSMS_POLL = 0.5  # seconds per command poll
START_TARGET_S = 1.0
RATE_TARGET = 1_000.0
RATIO_TARGET = 0.8  # delivery msg/s against the round-trip floor's, same run
RSS_TARGET_MB = 5.0  # VmRSS growth over ChargePointEngine(...) + start() with the backlog

# (measurand, phase) fed through set_reading; Current.Offered comes from the engine itself.
READINGS: tuple[tuple[str, str | None], ...] = (
    ("Energy.Active.Import.Register", None),
    ("Power.Active.Import", None),
    ("Current.Import", "L1"),
    ("Current.Import", "L2"),
    ("Current.Import", "L3"),
    ("Voltage", "L1-N"),
    ("Voltage", "L2-N"),
    ("Voltage", "L3-N"),
    ("SoC", None),
)
MEASURANDS = frozenset(measurand for measurand, _ in READINGS)
SAMPLED_DATA = (
    "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,Current.Offered,SoC"
)


class BenchmarkError(RuntimeError):
    """The engine or the CSMS did not behave as the benchmark requires."""


# --------------------------------------------------------------------------- helpers


def delivery_timeout(messages: int) -> float:
    """Seconds the engine gets for startup + delivery: 100 msg/s, a tenth of the target."""
    return 30.0 + messages / 100


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def rss_kb() -> int:
    """VmRSS of this process in KB (Linux /proc); no garbage collection first."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchmarkError("VmRSS not found in /proc/self/status")


def file_sizes(path: Path) -> dict[str, int]:
    """Bytes of the queue file and its -wal / -shm companions (0 if absent)."""
    sizes: dict[str, int] = {}
    for suffix in ("", "-wal", "-shm"):
        companion = Path(f"{path}{suffix}")
        sizes[suffix.lstrip("-") or "main"] = companion.stat().st_size if companion.exists() else 0
    return sizes


def readings_for(sample: int) -> list[tuple[str, str | None, float]]:
    """A three-phase 11 kW charger's readings at sample ``sample`` (slowly changing)."""
    wobble = (sample % 7) * 0.1
    values = (
        1_250_000 + 3 * sample,
        11_040 + sample % 50,
        15.9 + wobble,
        16.0 - wobble,
        15.8 + wobble,
        229.4 + wobble,
        230.2 - wobble,
        231.0 + wobble,
        20 + (sample // 100) % 80,
    )
    return [
        (measurand, phase, float(value))
        for (measurand, phase), value in zip(READINGS, values, strict=True)
    ]


def feed_readings(engine: ChargePointEngine, sample: int) -> None:
    for measurand, phase, value in readings_for(sample):
        engine.set_reading(CONNECTOR_ID, measurand, value, phase)


def engine_settings(url: str) -> EngineSettings:
    return EngineSettings(
        csms_url=url,
        charge_point_id=CP_ID,
        measurands=MEASURANDS,
        phases=3,
        hardware_max_current=16.0,
        call_timeout=OP_TIMEOUT,
        reconnect_initial_delay=0.05,
        reconnect_max_delay=0.2,
    )


def queue_rows(path: Path) -> list[tuple[str, str, str]]:
    """(unique_id, action, payload text) of every message in the queue file, oldest first."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT unique_id, action, payload FROM messages ORDER BY seq")
        return [(str(u), str(a), str(p)) for u, a, p in rows.fetchall()]
    finally:
        db.close()


# --------------------------------------------------------------------------- 1. backlog


@dataclass
class Backlog:
    messages: int  # queued: StartTransaction + MeterValues + StopTransaction
    meter_values: int
    build_s: float
    schema_compile_s: float  # load_validators() in a fresh process (part of a cold start())
    sizes: dict[str, int]  # main / wal / shm after engine.stop()
    empty_file_bytes: int  # a queue file with the schema and no rows, after close
    payload_bytes: float  # mean stored JSON payload of a MeterValues
    sampled_values: int  # per MeterValues


def build_backlog(path: str, messages: int) -> dict[str, Any]:
    """Entry point of the backlog subprocess (see the module docstring, step 1)."""
    return dataclasses.asdict(asyncio.run(_build_backlog(Path(path), messages)))


async def _build_backlog(path: Path, messages: int) -> Backlog:
    started = time.perf_counter()
    load_validators()
    schema_compile_s = time.perf_counter() - started
    engine = ChargePointEngine(
        engine_settings(OFFLINE_URL), NullHardware(), MemoryStorage(), queue_path=str(path)
    )
    engine.go_offline()  # before start(): the supervisor waits and never dials
    try:
        async with asyncio.timeout(BUILD_TIMEOUT):
            build_s, sampled = await _queue_backlog(engine, messages)
    finally:
        await engine.stop()
    empty = path.with_name("empty.sqlite3")
    journal = Journal(empty)
    await journal.open()
    await journal.close()
    rows = queue_rows(path)
    meter_values = [payload for _, action, payload in rows if action == "MeterValues"]
    if len(rows) != messages or len(meter_values) != messages - 2:
        raise BenchmarkError(f"queue file holds {len(rows)} messages, expected {messages}")
    return Backlog(
        messages=len(rows),
        meter_values=len(meter_values),
        build_s=build_s,
        schema_compile_s=schema_compile_s,
        sizes=file_sizes(path),
        empty_file_bytes=sum(file_sizes(empty).values()),
        payload_bytes=sum(len(p.encode()) for p in meter_values) / len(meter_values),
        sampled_values=sampled,
    )


async def _queue_backlog(engine: ChargePointEngine, messages: int) -> tuple[float, int]:
    """Start, N - 2 MeterValues and Stop, through the engine, all durable; (seconds, sampled
    values per MeterValues)."""
    await engine.start()
    for key, value in (
        ("AllowOfflineTxForUnknownId", "true"),
        ("MeterValuesSampledData", SAMPLED_DATA),
        ("MeterValueSampleInterval", "0"),  # no sampler messages of its own in between
    ):
        outcome, why = engine.config.change(key, value)
        if outcome != "Accepted":
            raise BenchmarkError(f"engine refused {key}={value}: {why}")
    started = time.perf_counter()
    feed_readings(engine, 0)
    engine.set_plugged(CONNECTOR_ID, True)
    if await engine.swipe(ID_TAG) != "started":
        raise BenchmarkError("the offline transaction did not start")
    connector = engine.connectors[CONNECTOR_ID]
    tx = connector.transaction
    if tx is None or tx.transaction_id is not None or not tx.local_id or not tx.durable:
        raise BenchmarkError(f"expected a durable offline transaction with a local id, got {tx}")
    transactions = engine.services.transactions
    measurands = engine.config.get_list("MeterValuesSampledData")
    sampled = 0
    for sample in range(1, messages - 1):
        # What MeteringService._sample_loop does once its clock fires.
        feed_readings(engine, sample)
        stamp = engine.now_stamp()
        values = sampled_values(
            engine.readings[CONNECTOR_ID], measurands, "Sample.Periodic", engine.offered(connector)
        )
        sampled = len(values)
        message = Outbound(
            str(uuid.uuid4()),
            "MeterValues",
            {
                "connectorId": CONNECTOR_ID,
                "meterValue": [{"timestamp": stamp, "sampledValue": values}],
            },
        )
        energy = engine.readings[CONNECTOR_ID].energy_wh()
        if energy is not None:
            tx.last_energy = energy
        tx.last_seen = stamp
        if not await transactions.record(tx, message):
            raise BenchmarkError(f"MeterValues {sample} was not committed")
    if not engine.stop_transaction(CONNECTOR_ID):
        raise BenchmarkError("no transaction to stop")
    async with asyncio.timeout(OP_TIMEOUT):  # the StopTransaction's commit
        while engine.ctx.persisting:
            await asyncio.wait(list(engine.ctx.persisting))
    stored = await engine.journal.count()
    if stored != messages or engine.journal.pending != messages:
        raise BenchmarkError(
            f"{stored} messages in the journal ({engine.journal.pending} pending), "
            f"expected {messages}"
        )
    return time.perf_counter() - started, sampled


# --------------------------------------------------------------------------- CSMS

# [type, "unique id"(, "Action") -- enough to route a frame without parsing its payload
_HEADER = re.compile(r'\[\s*(\d)\s*,\s*"((?:[^"\\]|\\.)*)"\s*(?:,\s*"([A-Za-z]+)")?')


def _results(transaction_id: int) -> dict[str, str]:
    now = iso_now()
    id_tag_info = '{"idTagInfo":{"status":"Accepted"}}'
    return {
        "BootNotification": json.dumps(
            {"status": "Accepted", "currentTime": now, "interval": 300}, separators=(",", ":")
        ),
        "Heartbeat": json.dumps({"currentTime": now}, separators=(",", ":")),
        "Authorize": id_tag_info,
        "StartTransaction": (
            f'{{"transactionId":{transaction_id},"idTagInfo":{{"status":"Accepted"}}}}'
        ),
        "StopTransaction": id_tag_info,
    }


@dataclass
class Received:
    """What one charge point (URL path) sent the CSMS."""

    calls: int
    first_call_at: float | None  # time.perf_counter() at arrival
    first_tx_at: float | None
    stop_at: float | None  # first StopTransaction
    tx_unique_ids: list[str]  # transaction CALLs in arrival order (repeats included)
    tx_actions: list[str]
    meter_values: int
    wrong_transaction_id: int  # MeterValues / StopTransaction without the CSMS's id
    frame_bytes: int  # transaction CALL frames, summed


class BacklogCsms:
    """Answers every CALL at once with a pre-built CALLRESULT and logs each CALL frame with
    its arrival time; everything else is done by ``received`` afterwards."""

    def __init__(self, transaction_id: int, max_frames: int) -> None:
        self._transaction_id = transaction_id
        self._results = _results(transaction_id)
        self._max_frames = max_frames
        self._server: Server | None = None
        self._frames: dict[str, list[tuple[float, str]]] = {}
        self.url = ""

    async def start(self) -> str:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            subprotocols=[SUBPROTOCOL],
            compression=None,
            max_size=2**22,
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            async with asyncio.timeout(OP_TIMEOUT):
                await self._server.wait_closed()

    async def _handler(self, ws: ServerConnection) -> None:
        path = (ws.request.path if ws.request is not None else "/").strip("/")
        frames = self._frames.setdefault(path, [])
        results = self._results
        limit = self._max_frames
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                arrived = time.perf_counter()
                text = raw if isinstance(raw, str) else raw.decode()
                header = _HEADER.match(text)
                if header is None or header[1] != "2" or header[3] is None:
                    continue
                frames.append((arrived, text))
                await ws.send(f'[3,"{header[2]}",{results.get(header[3], "{}")}]')
                if len(frames) >= limit:
                    await ws.close(1008, "benchmark frame limit")
                    return

    def received(self, path: str) -> Received:
        frames = self._frames.get(path, [])
        ids: list[str] = []
        actions: list[str] = []
        first_tx_at: float | None = None
        stop_at: float | None = None
        meter_values = wrong = size = 0
        for arrived, text in frames:
            message = json.loads(text)
            action = message[2]
            if action not in TX_ACTIONS:
                continue
            ids.append(message[1])
            actions.append(action)
            size += len(text.encode())
            if first_tx_at is None:
                first_tx_at = arrived
            if action == "StopTransaction" and stop_at is None:
                stop_at = arrived
            if action == "MeterValues":
                meter_values += 1
            if action != "StartTransaction":
                wrong += message[3].get("transactionId") != self._transaction_id
        return Received(
            calls=len(frames),
            first_call_at=frames[0][0] if frames else None,
            first_tx_at=first_tx_at,
            stop_at=stop_at,
            tx_unique_ids=ids,
            tx_actions=actions,
            meter_values=meter_values,
            wrong_transaction_id=wrong,
            frame_bytes=size,
        )


class CsmsControl(Protocol):
    """The CSMS in this process or in a subprocess."""

    url: str

    async def received(self, path: str) -> Received: ...


class LocalCsms:
    def __init__(self, csms: BacklogCsms) -> None:
        self._csms = csms
        self.url = csms.url

    async def received(self, path: str) -> Received:
        return self._csms.received(path)


class RemoteCsms:
    """A ``BacklogCsms`` in a ``multiprocessing`` child, driven over a pipe."""

    def __init__(self, conn: Connection, url: str) -> None:
        self._conn = conn
        self.url = url

    async def received(self, path: str) -> Received:
        self._conn.send(("received", path))
        if not await asyncio.to_thread(self._conn.poll, DELIVERY_TIMEOUT):
            raise BenchmarkError("the CSMS subprocess did not answer")
        reply = self._conn.recv()
        if isinstance(reply, str):
            raise BenchmarkError(f"CSMS subprocess: {reply}")
        return Received(**reply)


def serve_csms(conn: Connection, max_frames: int) -> None:
    """Entry point of the CSMS subprocess: send the URL, answer commands until "stop" or EOF
    (bounded by CSMS_LIFETIME and CSMS_MAX_POLLS)."""
    asyncio.run(_serve_csms(conn, max_frames))


async def _serve_csms(conn: Connection, max_frames: int) -> None:
    csms = BacklogCsms(TRANSACTION_ID, max_frames)
    conn.send(await csms.start())
    try:
        async with asyncio.timeout(CSMS_LIFETIME):
            for _ in range(CSMS_MAX_POLLS):
                if not await asyncio.to_thread(conn.poll, CSMS_POLL):
                    continue
                command, *args = conn.recv()
                if command == "stop":
                    break
                try:
                    conn.send(dataclasses.asdict(csms.received(*args)))
                except Exception as error:  # reported to the parent, which raises
                    conn.send(repr(error))
    except (EOFError, OSError, TimeoutError):
        pass  # the parent is gone, or the lifetime is up
    finally:
        await csms.stop()


@contextlib.asynccontextmanager
async def open_csms(separate: bool, max_frames: int) -> AsyncIterator[CsmsControl]:
    if not separate:
        csms = BacklogCsms(TRANSACTION_ID, max_frames)
        await csms.start()
        try:
            yield LocalCsms(csms)
        finally:
            await csms.stop()
        return
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process: BaseProcess = context.Process(
        target=serve_csms, args=(child, max_frames), name="outage CSMS", daemon=True
    )
    process.start()
    child.close()
    try:
        if not await asyncio.to_thread(parent.poll, 60.0):
            raise BenchmarkError("the CSMS subprocess did not start")
        yield RemoteCsms(parent, str(parent.recv()))
    finally:
        with contextlib.suppress(OSError):
            parent.send(("stop",))
        await asyncio.to_thread(process.join, OP_TIMEOUT)
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, OP_TIMEOUT)
        parent.close()


# --------------------------------------------------------------------------- 2. floor


@dataclass
class Floor:
    messages: int
    seconds: float
    per_s: float
    cpu_us: float  # this process's CPU per message


async def measure_floor(url: str, payloads: list[str], messages: int) -> Floor:
    """Raw websockets client, N MeterValues one at a time (module docstring, step 2)."""
    ids = [str(uuid.uuid4()) for _ in range(messages)]
    tail = f',"transactionId":{TRANSACTION_ID}}}]'
    async with connect(
        f"{url}/{FLOOR_ID}", subprotocols=[SUBPROTOCOL], compression=None, max_size=2**22
    ) as ws:
        cpu = time.process_time()
        started = time.perf_counter()
        async with asyncio.timeout(DELIVERY_TIMEOUT):
            for index, unique_id in enumerate(ids):
                payload = payloads[index % len(payloads)]
                await ws.send(f'[2,"{unique_id}","MeterValues",' + payload[:-1] + tail)
                answer = json.loads(await ws.recv())
                if answer[0] != 3 or answer[1] != unique_id:
                    raise BenchmarkError(f"floor: unexpected answer {answer}")
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return Floor(messages, seconds, messages / seconds, cpu / messages * 1e6)


# --------------------------------------------------------------------------- 3. engine


class Stamps:
    """Engine listener: when the state turned "accepted" and the first backlog frame left.

    Home Assistant always gives the engine a listener, so it is there in this run too.
    """

    def __init__(self) -> None:
        self.accepted_at: float | None = None
        self.accepted_cpu: float | None = None
        self.first_tx_sent_at: float | None = None

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "frame":
            if (
                self.first_tx_sent_at is None
                and data["direction"] == "out"
                and '"StartTransaction"' in data["frame"][:80]
            ):
                self.first_tx_sent_at = time.perf_counter()
        elif (
            event == "state"
            and data["state"] == ConnectionState.ACCEPTED
            and self.accepted_at is None
        ):
            self.accepted_at = time.perf_counter()
            self.accepted_cpu = time.process_time()


@dataclass
class EngineRun:
    created_at: float  # perf_counter right before ChargePointEngine(...)
    start_s: float  # ChargePointEngine(...) + await start()
    pending: int  # engine.journal.pending when start() returned (counted, not loaded)
    buffered: int  # messages the delivery held in memory when start() returned
    rss_start_kb: int  # VmRSS growth over ChargePointEngine(...) + start()
    rss_peak_kb: int  # highest VmRSS growth seen from start() until delivered (20 ms polls)
    accepted_at: float
    first_tx_sent_at: float | None  # engine side, listener's "out" frame
    idle_s: float  # from accepted until the engine's delivery was idle (Stop answered)
    cpu_us: float  # engine process CPU per message from accepted until idle
    left_in_file: int  # messages still in the queue file after stop()


RSS_POLL_S = 0.02


async def _poll_rss(peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], rss_kb())
        await asyncio.sleep(RSS_POLL_S)


async def measure_engine(url: str, path: Path, messages: int) -> EngineRun:
    """Startup and delivery (module docstring, step 3)."""
    stamps = Stamps()
    rss_before = rss_kb()
    created_at = time.perf_counter()
    engine = ChargePointEngine(
        engine_settings(url), NullHardware(), MemoryStorage(), listener=stamps, queue_path=str(path)
    )
    peak = [0]
    poller: asyncio.Task[None] | None = None
    try:
        await engine.start()
        start_s = time.perf_counter() - created_at
        pending = engine.journal.pending
        buffered = len(engine.services.delivery._buffer)
        rss_start = rss_kb() - rss_before
        poller = asyncio.create_task(_poll_rss(peak))
        async with asyncio.timeout(delivery_timeout(messages)):
            await engine.services.delivery.idle.wait()
        idle_at = time.perf_counter()
        idle_cpu = time.process_time()
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        await engine.stop()
    if stamps.accepted_at is None or stamps.accepted_cpu is None:
        raise BenchmarkError("the engine never reached state accepted")
    return EngineRun(
        created_at=created_at,
        start_s=start_s,
        pending=pending,
        buffered=buffered,
        rss_start_kb=rss_start,
        rss_peak_kb=max(rss_start, peak[0] - rss_before),
        accepted_at=stamps.accepted_at,
        first_tx_sent_at=stamps.first_tx_sent_at,
        idle_s=idle_at - stamps.accepted_at,
        cpu_us=(idle_cpu - stamps.accepted_cpu) / messages * 1e6,
        left_in_file=len(queue_rows(path)),
    )


async def measure_journal_alone(path: Path, messages: int) -> tuple[float, float]:
    """Seconds for the journal's part of start() (open with its quick_check and count, close),
    and for reading the whole backlog the way delivery does (``page`` by ``PAGE``).

    Run on an untouched copy of the queue file after the engine's run, so that it warms
    nothing (allocator, caches) for the startup figure.
    """
    started = time.perf_counter()
    journal = Journal(path)
    await journal.open()
    pending = journal.pending
    await journal.close()
    open_s = time.perf_counter() - started
    if pending != messages:
        raise BenchmarkError(f"the copy of the queue file holds {pending} messages")
    journal = Journal(path)
    await journal.open()
    started = time.perf_counter()
    after, read = 0, 0
    while True:
        page, _ = await journal.page(after, PAGE)
        if not page:
            break
        read += len(page)
        after = page[-1].seq
    paged_s = time.perf_counter() - started
    await journal.close()
    if read != messages:
        raise BenchmarkError(f"paging the copy of the queue file read {read} messages")
    return open_s, paged_s


def check_delivery(received: Received, expected: list[tuple[str, str, str]]) -> list[str]:
    """What is wrong with what the CSMS received (empty: nothing)."""
    problems: list[str] = []
    distinct = list(dict.fromkeys(received.tx_unique_ids))
    if len(distinct) != len(expected):
        problems.append(f"{len(distinct)} distinct transaction messages, expected {len(expected)}")
    if distinct != [unique_id for unique_id, _, _ in expected]:
        problems.append("not in the queue file's order (or not the same unique ids)")
    actions = received.tx_actions
    if not actions or actions[0] != "StartTransaction":
        problems.append("StartTransaction was not first")
    if not actions or actions[-1] != "StopTransaction":
        problems.append("StopTransaction was not last")
    if received.meter_values < len(expected) - 2:
        problems.append(f"only {received.meter_values} MeterValues, expected {len(expected) - 2}")
    if received.wrong_transaction_id:
        problems.append(
            f"{received.wrong_transaction_id} messages without transactionId {TRANSACTION_ID}"
        )
    return problems


# --------------------------------------------------------------------------- run & report


def start_rss_without_backlog(path: str) -> int:
    """Entry point of a fresh subprocess: VmRSS growth (KB) over ``ChargePointEngine(...)`` +
    ``start()`` on an empty journal, the baseline for the RSS figure of step 3."""
    return asyncio.run(_start_rss_without_backlog(Path(path)))


async def _start_rss_without_backlog(path: Path) -> int:
    rss_before = rss_kb()
    engine = ChargePointEngine(
        engine_settings(OFFLINE_URL),
        NullHardware(),
        MemoryStorage(),
        listener=Stamps(),
        queue_path=str(path),
    )
    engine.go_offline()
    try:
        await engine.start()
        return rss_kb() - rss_before
    finally:
        await engine.stop()


def _in_fresh_process[T](function: Callable[..., T], *args: Any, timeout: float) -> T:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result(timeout=timeout)


def _backlog_in_subprocess(path: Path, messages: int) -> Backlog:
    built = _in_fresh_process(build_backlog, str(path), messages, timeout=BUILD_TIMEOUT + 60)
    return Backlog(**built)


async def run(messages: int, separate: bool, profile: cProfile.Profile | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ocpp_cp_outage_") as tmp:
        path = Path(tmp) / "queue.sqlite3"
        backlog = await asyncio.to_thread(_backlog_in_subprocess, path, messages)
        empty = path.with_name("baseline.sqlite3")
        shutil.copyfile(path.with_name("empty.sqlite3"), empty)
        rss_empty_kb = await asyncio.to_thread(
            _in_fresh_process, start_rss_without_backlog, str(empty), timeout=BUILD_TIMEOUT
        )
        expected = queue_rows(path)
        spare = path.with_name("spare.sqlite3")
        shutil.copyfile(path, spare)
        payloads = [payload for _, action, payload in expected if action == "MeterValues"]
        async with open_csms(separate, max_frames=4 * messages + 1000) as csms:
            floor = await measure_floor(csms.url, payloads, messages)
            if profile is not None:
                profile.enable()
            try:
                engine = await measure_engine(csms.url, path, messages)
            finally:
                if profile is not None:
                    profile.disable()
            received = await csms.received(CP_ID)
            floor_received = await csms.received(FLOOR_ID)
        journal_open_s, journal_paged_s = await measure_journal_alone(spare, messages)
    problems = check_delivery(received, expected)
    if floor_received.meter_values != messages:
        problems.append(f"the CSMS got {floor_received.meter_values} floor MeterValues")
    if engine.pending != messages:
        problems.append(f"start() counted {engine.pending} pending messages, expected {messages}")
    if engine.left_in_file:
        problems.append(f"{engine.left_in_file} messages left in the queue file after delivery")
    journal = {"open_s": journal_open_s, "paged_s": journal_paged_s}
    return figures(messages, backlog, floor, engine, journal, rss_empty_kb, received, problems)


def figures(
    messages: int,
    backlog: Backlog,
    floor: Floor,
    engine: EngineRun,
    journal: dict[str, float],
    rss_empty_kb: int,
    received: Received,
    problems: list[str],
) -> dict[str, Any]:
    def since_created(moment: float | None) -> float | None:
        return None if moment is None else moment - engine.created_at

    delivery_s = None if received.stop_at is None else received.stop_at - engine.accepted_at
    per_s = None if not delivery_s else messages / delivery_s
    total_bytes = sum(backlog.sizes.values())
    return {
        "messages": messages,
        "backlog": dataclasses.asdict(backlog)
        | {
            "bytes_per_meter_values": total_bytes / backlog.meter_values,
            "marginal_bytes_per_meter_values": (total_bytes - backlog.empty_file_bytes)
            / backlog.meter_values,
        },
        "startup": {
            "start_s": engine.start_s,
            "journal_open_s": journal["open_s"],
            "journal_paged_s": journal["paged_s"],
            "pending": engine.pending,
            "buffered": engine.buffered,
            "first_frame_at_csms_s": since_created(received.first_call_at),
            "first_tx_sent_s": since_created(engine.first_tx_sent_at),
            "first_tx_at_csms_s": since_created(received.first_tx_at),
            "accepted_s": since_created(engine.accepted_at),
            "rss_growth_kb": engine.rss_start_kb,
            "rss_peak_growth_kb": engine.rss_peak_kb,
            "rss_growth_empty_journal_kb": rss_empty_kb,
        },
        "delivery": {
            "seconds": delivery_s,
            "per_s": per_s,
            "cpu_us": engine.cpu_us,
            "idle_s": engine.idle_s,
            "frames": len(received.tx_unique_ids),
            "resent": len(received.tx_unique_ids) - len(set(received.tx_unique_ids)),
            "frame_bytes": received.frame_bytes,
        },
        "floor": dataclasses.asdict(floor),
        "problems": problems,
    }


def _below(value: float | None, limit: float) -> bool | None:
    return None if value is None else value < limit


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with the measured value; ``met`` None when the value is missing."""
    startup, delivery = result["startup"], result["delivery"]
    per_s = delivery["per_s"]
    ratio = None if per_s is None else per_s / result["floor"]["per_s"]
    rss_mb = startup["rss_growth_kb"] / 1024
    return [
        {
            "name": "backlog replay, engine / round-trip floor (same run)",
            "value": ratio,
            "shown": _num(ratio, "{:.2f}x"),
            "baseline": f"floor {result['floor']['per_s']:,.0f} msg/s",
            "target": f">= {RATIO_TARGET:g}x",
            "met": None if ratio is None else ratio >= RATIO_TARGET,
        },
        {
            "name": "RSS growth over start() with the backlog",
            "value": rss_mb,
            "shown": f"{rss_mb:,.1f} MB",
            "baseline": f"empty journal: {startup['rss_growth_empty_journal_kb'] / 1024:,.1f} MB",
            "target": f"< {RSS_TARGET_MB:g} MB",
            "met": rss_mb < RSS_TARGET_MB,
        },
        {
            "name": "delivery msg/s",
            "value": per_s,
            "shown": _num(per_s, "{:,.0f}"),
            "baseline": "",
            "target": f">= {RATE_TARGET:,.0f}",
            "met": None if per_s is None else per_s >= RATE_TARGET,
        },
        {
            "name": "start() returned (s)",
            "value": startup["start_s"],
            "shown": f"{startup['start_s']:.3f} s",
            "baseline": "",
            "target": f"< {START_TARGET_S:g} s",
            "met": startup["start_s"] < START_TARGET_S,
        },
        {
            "name": "first backlog message at the CSMS (s)",
            "value": startup["first_tx_at_csms_s"],
            "shown": _num(startup["first_tx_at_csms_s"], "{:.3f} s"),
            "baseline": "",
            "target": f"< {START_TARGET_S:g} s",
            "met": _below(startup["first_tx_at_csms_s"], START_TARGET_S),
        },
    ]


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


def render(result: dict[str, Any], meta: dict[str, Any]) -> str:
    n = result["messages"]
    backlog, startup = result["backlog"], result["startup"]
    delivery, floor = result["delivery"], result["floor"]
    sizes = backlog["sizes"]
    rows: list[tuple[str, str]] = [
        ("backlog (built offline through the engine, one fsynced commit per message)", ""),
        (
            "  messages in the journal",
            f"{backlog['messages']:,} (1 StartTransaction, {backlog['meter_values']:,} "
            f"MeterValues of {backlog['sampled_values']} sampled values, 1 StopTransaction)",
        ),
        (
            "  build time",
            f"{backlog['build_s']:.2f} s ({backlog['messages'] / backlog['build_s']:,.0f} msg/s, "
            "each transactions.record awaited, as the sampler does)",
        ),
        (
            "  journal file after stop()",
            f"{sum(sizes.values()):,} B (main {sizes['main']:,}, -wal {sizes['wal']:,}, "
            f"-shm {sizes['shm']:,}; empty file {backlog['empty_file_bytes']:,})",
        ),
        (
            "  disk bytes per queued MeterValues",
            f"{backlog['bytes_per_meter_values']:,.0f} B (marginal "
            f"{backlog['marginal_bytes_per_meter_values']:,.0f} B; stored JSON payload "
            f"{backlog['payload_bytes']:,.0f} B)",
        ),
        ("startup (new engine on that file, first engine in this process)", ""),
        (
            "  ChargePointEngine(...) + start() returned",
            f"{startup['start_s'] * 1e3:,.0f} ms   target < {START_TARGET_S:g} s   "
            + _verdict(startup["start_s"] < START_TARGET_S),
        ),
        (
            "    journal alone (open + quick_check + count + close)",
            f"{startup['journal_open_s'] * 1e3:,.0f} ms (on a copy of the file, after the run)",
        ),
        (
            "    schema compile (load_validators)",
            f"{backlog['schema_compile_s'] * 1e3:,.0f} ms (measured in the backlog process)",
        ),
        (
            "  messages pending / held in memory after start()",
            f"{startup['pending']:,} / {startup['buffered']:,} (delivery pages {PAGE} at a time)",
        ),
        (
            "  reading the whole backlog page by page",
            f"{startup['journal_paged_s'] * 1e3:,.0f} ms "
            f"({startup['journal_paged_s'] / n * 1e6:,.1f} µs per message; on the copy)",
        ),
        ("  first frame (BootNotification) at the CSMS", _ms(startup["first_frame_at_csms_s"])),
        ("  state accepted", _ms(startup["accepted_s"])),
        (
            "  first backlog message at the CSMS",
            _ms(startup["first_tx_at_csms_s"])
            + f"   target < {START_TARGET_S:g} s   "
            + _verdict(_below(startup["first_tx_at_csms_s"], START_TARGET_S)),
        ),
        (
            "  RSS growth over start()",
            f"{startup['rss_growth_kb'] / 1024:,.1f} MB   target < {RSS_TARGET_MB:g} MB   "
            + _verdict(startup["rss_growth_kb"] / 1024 < RSS_TARGET_MB),
        ),
        (
            "    same, empty journal (fresh process, offline)",
            f"{startup['rss_growth_empty_journal_kb'] / 1024:,.1f} MB (the backlog's share: "
            f"{(startup['rss_growth_kb'] - startup['rss_growth_empty_journal_kb']) / 1024:,.1f} "
            "MB)",
        ),
        (
            "  RSS growth, highest until delivered",
            f"{startup['rss_peak_growth_kb'] / 1024:,.1f} MB (VmRSS every "
            f"{RSS_POLL_S * 1e3:g} ms; includes the websocket and delivery)",
        ),
        ("delivery (state accepted -> StopTransaction at the CSMS)", ""),
        ("  time", _num(delivery["seconds"], "{:.3f} s")),
        (
            "  engine",
            _num(delivery["per_s"], "{:,.0f} msg/s")
            + f"   target >= {RATE_TARGET:,.0f}   "
            + _verdict(None if delivery["per_s"] is None else delivery["per_s"] >= RATE_TARGET),
        ),
        ("  engine CPU per message", f"{delivery['cpu_us']:,.0f} µs (this process, all threads)"),
        (
            f"  round-trip floor ({floor['messages']:,} MeterValues, raw websockets client)",
            f"{floor['per_s']:,.0f} msg/s, CPU {floor['cpu_us']:,.0f} µs per message",
        ),
        (
            "  engine / floor",
            _num(
                None if delivery["per_s"] is None else delivery["per_s"] / floor["per_s"],
                "{:.2f}x",
            )
            + f"   target >= {RATIO_TARGET:g}x   "
            + _verdict(
                None
                if delivery["per_s"] is None
                else delivery["per_s"] / floor["per_s"] >= RATIO_TARGET
            ),
        ),
        (
            "  mean transaction frame",
            f"{delivery['frame_bytes'] / max(1, delivery['frames']):,.0f} B",
        ),
    ]
    width = max(len(label) for label, value in rows if value) + 2
    lines = [
        f"ocpp_cp outage benchmark -- {meta['mode']} run ({n:,} messages), python "
        f"{meta['python']}, ocpp {meta['ocpp']}, websockets {meta['websockets']}, "
        f"{meta['cpus']} CPUs",
        f"CSMS: {meta['csms']}" + ("; PROFILED (slower)" if meta.get("profiled") else ""),
        "",
    ]
    lines += [f"{label:<{width}}{value}" if value else label for label, value in rows]
    table = targets(result)
    name_width = max(len(t["name"]) for t in table) + 2
    lines += ["", "targets (same run)"]
    for target in table:
        lines.append(
            f"  {target['name']:<{name_width}}{target['shown']:>12}   target "
            f"{target['target']:<10}{_verdict(target['met']):<8}{target['baseline']}"
        )
    problems = result["problems"]
    lines += [
        "",
        "checks: "
        + (
            f"{n:,} distinct transaction messages in the journal's order, Start first, "
            f"Stop last, every MeterValues/Stop with transactionId {TRANSACTION_ID}; "
            f"{delivery['resent']} resent"
            if not problems
            else "FAILED: " + "; ".join(problems)
        ),
        f"run time: {meta['run_time_s']:.1f} s",
    ]
    return "\n".join(line.rstrip() for line in lines)


def _ms(seconds: float | None) -> str:
    return _num(None if seconds is None else seconds * 1e3, "{:,.0f} ms")


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else "met" if met else "MISSED"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_MESSAGES:,} messages instead of 10,000"
    )
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write figures as JSON")
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run the CSMS in this process's event loop (default: a separate process)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        type=Path,
        help="cProfile the engine's startup and delivery into FILE (pstats; on Python 3.12+ "
        "every thread is seen); a profiled run is slower",
    )
    args = parser.parse_args(argv)
    messages = QUICK_MESSAGES if args.quick else FULL_MESSAGES
    profile = cProfile.Profile() if args.profile is not None else None
    started = time.perf_counter()
    result = asyncio.run(run(messages, not args.same_process, profile))
    meta = {
        "mode": "quick" if args.quick else "full",
        "python": platform.python_version(),
        "ocpp": metadata.version("ocpp"),
        "websockets": metadata.version("websockets"),
        "cpus": os.cpu_count(),
        "csms": "same process" if args.same_process else "separate process",
        "profiled": profile is not None,
        "run_time_s": time.perf_counter() - started,
    }
    print(render(result, meta))
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"profile written to {args.profile}")
    if args.json is not None:
        document = {
            "meta": meta,
            **result,
            "targets": targets(result),
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if result["problems"]:
        raise BenchmarkError("; ".join(result["problems"]))


if __name__ == "__main__":
    main()
