"""Charge point benchmark: the ocpp_cp engine against the plain `ocpp` library and a raw floor.

Run:  $(bash scripts/venv.sh)/bin/python benchmarks/engine.py [--quick] [--json FILE]
                                                              [--same-process]

Three columns are measured in the same run, each with the same rows and the same CSMS:

* ``ocpp_cp engine`` -- the engine of this project, through an adapter (see the slot
  ``engine_factory`` / ``measure_engine`` below; "n/a" until that adapter exists);
* ``plain ocpp lib`` -- a charge point written the obvious way with ``ocpp`` 2.1.0
  (``ocpp.v16.ChargePoint`` subclass, ``@on`` handlers, ``await self.call(...)``),
  default library settings (schema validation in the default thread executor);
* ``floor`` -- raw ``websockets`` + ``json`` at both ends, no validation.

Rows (the CSMS is the same minimal raw-websockets ``MiniCsms`` on 127.0.0.1, port 0, for
every column, so only the charge point side differs):

a. CSMS ``GetConfiguration`` CALL -> CALLRESULT round trip, p50/p99 ms (timed by the CSMS).
b. "plug changed" input (an asyncio.Queue) -> StatusNotification arriving at the CSMS,
   p50/p99 ms (``time.perf_counter`` at the input and at the CSMS's receive).
c. MeterValues (10 sampled values) one at a time, each awaiting its CALLRESULT:
   messages/s and CPU µs per message (``time.process_time`` of this process). The engine
   builds them in ``MeteringService.send_now`` and sends them with ``OcppRpc.call_action``
   (see ``EngineAdapter``). Target: engine at least 0.8x the floor's msg/s.
d. Resident memory (VmRSS) per connected, booted charge point: 100 of them in one fresh
   subprocess per column (after a warm-up one and 100 unmeasured fillers, see
   ``memory_worker``), the CSMS in another subprocess.
e. Engine column only: CSMS ``ChangeConfiguration`` (MeterValueSampleInterval, alternately
   60 and 61) CALL -> CALLRESULT ``Accepted``, p50/p99 ms (timed by the CSMS, 200 after 20
   warm-up). The engine answers only once the new value is durable: one commit of its
   journal file (a real file in a temporary directory: SQLite WAL, ``synchronous=FULL``, so
   an fsync). The last value is then read back from the file through a separate SQLite
   connection. Printed beside it: the fsync floor, p50 of a bare ``os.fsync`` after a
   100-byte write to a file in the same directory. Target: p50 under 2 ms.

By default the CSMS of rows a-c runs in a separate process, as a real CSMS does (the issue's
reference floor of ~0.37 ms / ~2,500 msg/s was measured that way); CPU per message is then
the charge point's alone. ``--same-process`` runs it in this process and event loop instead:
no cross-process wake-ups, so much lower latencies, and row c's CPU includes the CSMS's share.

Adapter interface
-----------------
The row functions take a ``CPFactory``: ``Callable[[str], ChargePointAdapter]`` which,
given a charge point id, returns an object with these methods::

    async def connect(self, url: str) -> None
        Open the websocket to ``url`` (already ends in "/<charge point id>"), subprotocol
        "ocpp1.6". From then on answer CSMS CALLs -- at least GetConfiguration with
        {"key": ["HeartbeatInterval"]} must get a CALLRESULT whose configurationKey holds
        HeartbeatInterval. Send BootNotification and return once it has been answered
        (the CSMS always accepts) and whatever the charge point sends right after boot
        (e.g. StatusNotifications) has been answered too: row b counts the
        StatusNotifications that reach the CSMS after connect() returns.

    async def send_status(self, connector_id: int, status: str) -> None
        Send StatusNotification(connectorId, errorCode "NoError", status) and return once
        its CALLRESULT has arrived. Row b calls this from a task that waits on an
        asyncio.Queue of "plug changed" inputs; the time is taken when the input is queued.
        An engine adapter may instead feed the engine's own input path here, as long as
        the engine sends the StatusNotification and this returns after it is answered.

    async def send_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], transaction_id: int | None
    ) -> None
        Send MeterValues with ``meter_value`` (OCPP JSON, camelCase keys, as built by
        ``build_meter_value``) and return once its CALLRESULT has arrived.

    async def close(self) -> None
        Close the connection and stop every task the adapter started.

The CSMS checks the last StatusNotification and MeterValues frame of each run, so an
adapter cannot skip the work. To add the engine column, make ``_engine_adapter_factory``
return a factory; ``measure_engine`` then measures it exactly like the other columns.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent))
import argparse
import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import importlib
import itertools
import json
import os
import platform
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from common import percentile
from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action, ChargePointErrorCode
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

REPO_ROOT = Path(__file__).resolve().parents[1]
SUBPROTOCOL = Subprotocol("ocpp1.6")
OP_TIMEOUT = 10.0  # seconds for any single connect / call / frame
ROW_TIMEOUT = 300.0  # seconds for one row of one column
WORKER_TIMEOUT = 300.0  # seconds for one memory subprocess
CSMS_SERVER_LIFETIME = 1800.0  # the out-of-process CSMS exits by itself after this
CSMS_SERVER_MAX_COMMANDS = 100_000
CONNECTOR_ID = 1
TRANSACTION_ID = 1
# Row e: the key the CSMS changes and the values it alternates between.
CC_KEY = "MeterValueSampleInterval"
CC_VALUES = ("60", "61")
CC_TARGET_P50_MS = 2.0
MV_FLOOR_TARGET = 0.8  # row c, engine msg/s against the floor's
ENGINE_MODULE = "custom_components.ocpp_cp.engine"
JOURNAL_FILE = "journal.sqlite3"
CONFIGURATION_DOCUMENT = "configuration"  # the journal's documents row ChangeConfiguration writes


class BenchmarkError(RuntimeError):
    """A charge point did not behave as the adapter interface requires."""


# --------------------------------------------------------------------------- interface


class ChargePointAdapter(Protocol):
    """What a row needs from "a charge point" (see the module docstring)."""

    async def connect(self, url: str) -> None: ...

    async def send_status(self, connector_id: int, status: str) -> None: ...

    async def send_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], transaction_id: int | None
    ) -> None: ...

    async def close(self) -> None: ...


CPFactory = Callable[[str], ChargePointAdapter]


@dataclass(frozen=True)
class Sizes:
    """How many iterations each row runs."""

    rt_warmup: int = 200
    rt_n: int = 2000
    status_warmup: int = 100
    status_n: int = 1000
    mv_warmup: int = 100
    mv_n: int = 3000
    cc_warmup: int = 20
    cc_n: int = 200
    mem_cps: int = 100


FULL = Sizes()
QUICK = Sizes(
    rt_warmup=20,
    rt_n=200,
    status_warmup=10,
    status_n=100,
    mv_warmup=20,
    mv_n=300,
    cc_warmup=5,
    cc_n=50,
    mem_cps=20,
)


@dataclass
class Figures:
    """One column of the table."""

    rt_p50_ms: float
    rt_p99_ms: float
    status_p50_ms: float
    status_p99_ms: float
    mv_per_s: float
    mv_cpu_us: float
    rss_kb_per_cp: float
    rss_first_cp_kb: float
    # Row e, only for a charge point that keeps its configuration durably (the engine).
    cc_p50_ms: float | None = None
    cc_p99_ms: float | None = None
    fsync_p50_ms: float | None = None


# --------------------------------------------------------------------------- helpers


def release_free_memory() -> None:
    """Collect garbage and hand free glibc heap pages back to the OS (if glibc)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


SETTLE_S = 3.0


def vmrss_kb() -> int:
    """Resident set size of this process in KB (Linux /proc), after ``release_free_memory``."""
    release_free_memory()
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchmarkError("VmRSS not found in /proc/self/status")


def iso_now() -> str:
    """Current UTC time as ISO-8601 with milliseconds and a Z suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# (measurand, phase, unit, location)
_SAMPLED: tuple[tuple[str, str | None, str, str], ...] = (
    ("Energy.Active.Import.Register", None, "Wh", "Outlet"),
    ("Power.Active.Import", None, "W", "Outlet"),
    ("Current.Import", "L1", "A", "Outlet"),
    ("Current.Import", "L2", "A", "Outlet"),
    ("Current.Import", "L3", "A", "Outlet"),
    ("Voltage", "L1-N", "V", "Outlet"),
    ("Voltage", "L2-N", "V", "Outlet"),
    ("Voltage", "L3-N", "V", "Outlet"),
    ("Current.Offered", None, "A", "Outlet"),
    ("SoC", None, "Percent", "EV"),
)


def build_meter_value(seq: int) -> list[dict[str, Any]]:
    """One MeterValues ``meterValue`` list as a three-phase 11 kW charger reports it."""
    wobble = (seq % 7) * 0.1
    values = (
        str(1_250_000 + 3 * seq),
        f"{11040 + seq % 50:.0f}",
        f"{15.9 + wobble:.1f}",
        f"{16.0 - wobble:.1f}",
        f"{15.8 + wobble:.1f}",
        f"{229.4 + wobble:.1f}",
        f"{230.2 - wobble:.1f}",
        f"{231.0 + wobble:.1f}",
        "16",
        str(20 + seq % 80),
    )
    sampled: list[dict[str, Any]] = []
    for value, (measurand, phase, unit, location) in zip(values, _SAMPLED, strict=True):
        entry: dict[str, Any] = {
            "value": value,
            "context": "Sample.Periodic",
            "format": "Raw",
            "measurand": measurand,
            "location": location,
            "unit": unit,
        }
        if phase is not None:
            entry["phase"] = phase
        sampled.append(entry)
    return [{"timestamp": iso_now(), "sampledValue": sampled}]


# --------------------------------------------------------------------------- minimal CSMS

# [type, "unique id"(, "Action")...  -- enough to route a frame without parsing the payload
_HEADER = re.compile(r'\[\s*(\d)\s*,\s*"((?:[^"\\]|\\.)*)"\s*(?:,\s*"([A-Za-z]+)")?')


def _csms_results() -> dict[str, str]:
    now = iso_now()
    id_tag_info = '{"idTagInfo":{"status":"Accepted"}}'
    return {
        "BootNotification": json.dumps(
            {"status": "Accepted", "currentTime": now, "interval": 300}, separators=(",", ":")
        ),
        "Heartbeat": json.dumps({"currentTime": now}, separators=(",", ":")),
        "Authorize": id_tag_info,
        "StartTransaction": '{"transactionId":1,"idTagInfo":{"status":"Accepted"}}',
        "StopTransaction": id_tag_info,
        "DataTransfer": '{"status":"Accepted"}',
    }


@dataclass
class CsmsSnapshot:
    """What the CSMS saw since its last ``reset``."""

    calls_received: int
    last_frame: dict[str, str]  # action -> last CALL frame of that action
    arrivals: dict[str, list[float]]  # action -> time.perf_counter() at each arrival


class CsmsControl(Protocol):
    """The CSMS as the rows drive it, in this process (MiniCsms) or another (RemoteCsms)."""

    @property
    def url(self) -> str: ...

    async def reset(self) -> None: ...

    async def round_trips(self, cp_id: str, count: int) -> tuple[list[float], str]: ...

    async def change_configuration(self, cp_id: str, count: int) -> tuple[list[float], int]: ...

    async def snapshot(self) -> CsmsSnapshot: ...


class MiniCsms:
    """Raw websockets CSMS: answers every CP CALL at once with a pre-built CALLRESULT
    (``{}`` unless the action's schema requires fields), records arrival times, and can
    send pre-built GetConfiguration CALLs to a connected charge point and time the answer.
    """

    def __init__(self) -> None:
        self._results = _csms_results()
        self._server: Server | None = None
        self._url = ""
        self.connections: dict[str, ServerConnection] = {}
        self._pending: dict[str, asyncio.Future[tuple[float, int, str]]] = {}
        self._calls_received = 0
        self._last_frame: dict[str, str] = {}
        self._arrivals: dict[str, list[float]] = {}

    @property
    def url(self) -> str:
        return self._url

    async def start(self) -> str:
        """Listen on 127.0.0.1, a free port; return the base URL."""
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            subprotocols=[SUBPROTOCOL],
            # A plain server: a client offering permessage-deflate gets it declined, so
            # the per-frame cost measured is the charge point's, not zlib's.
            compression=None,
            max_size=2**20,
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self._url = f"ws://127.0.0.1:{port}"
        return self._url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            async with asyncio.timeout(OP_TIMEOUT):
                await self._server.wait_closed()

    async def reset(self) -> None:
        self._calls_received = 0
        self._last_frame = {}
        self._arrivals = {}

    async def snapshot(self) -> CsmsSnapshot:
        return CsmsSnapshot(
            self._calls_received,
            dict(self._last_frame),
            {action: list(times) for action, times in self._arrivals.items()},
        )

    async def round_trips(self, cp_id: str, count: int) -> tuple[list[float], str]:
        """Send ``count`` GetConfiguration CALLs one at a time; return the round-trip times
        in seconds and the first CALLRESULT frame."""
        if cp_id not in self.connections:
            raise BenchmarkError(f"{cp_id} is not connected")
        frames = [
            (f"rt{i}", f'[2,"rt{i}","GetConfiguration",{{"key":["HeartbeatInterval"]}}]')
            for i in range(count)
        ]
        samples: list[float] = []
        first = ""
        async with asyncio.timeout(ROW_TIMEOUT):
            for unique_id, frame in frames:
                elapsed, raw = await self._call(cp_id, unique_id, frame)
                samples.append(elapsed)
                first = first or raw
        return samples, first

    async def change_configuration(self, cp_id: str, count: int) -> tuple[list[float], int]:
        """Send ``count`` ChangeConfiguration CALLs one at a time, MeterValueSampleInterval
        alternately 60 and 61 (the last one 60 + (count - 1) % 2); return the round-trip times
        in seconds and how many answers were not ``{"status": "Accepted"}``."""
        if cp_id not in self.connections:
            raise BenchmarkError(f"{cp_id} is not connected")
        frames = [
            (
                f"cc{i}",
                f'[2,"cc{i}","ChangeConfiguration",'
                f'{{"key":"{CC_KEY}","value":"{CC_VALUES[i % 2]}"}}]',
            )
            for i in range(count)
        ]
        samples: list[float] = []
        refused = 0
        async with asyncio.timeout(ROW_TIMEOUT):
            for unique_id, frame in frames:
                elapsed, raw = await self._call(cp_id, unique_id, frame)
                samples.append(elapsed)
                refused += json.loads(raw)[2] != {"status": "Accepted"}
        return samples, refused

    async def _call(self, cp_id: str, unique_id: str, frame: str) -> tuple[float, str]:
        ws = self.connections[cp_id]
        future: asyncio.Future[tuple[float, int, str]] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        start = time.perf_counter()
        await ws.send(frame)
        try:
            async with asyncio.timeout(OP_TIMEOUT):
                arrived, message_type, raw = await future
        except TimeoutError:
            raise BenchmarkError(f"{cp_id} did not answer {frame} in {OP_TIMEOUT} s") from None
        if message_type != 3:
            raise BenchmarkError(f"expected a CALLRESULT to {frame}, got {raw}")
        return arrived - start, raw

    async def _handler(self, ws: ServerConnection) -> None:
        cp_id = (ws.request.path if ws.request is not None else "/").strip("/")
        self.connections[cp_id] = ws
        results = self._results
        try:
            async for raw in ws:
                arrived = time.perf_counter()
                text = raw if isinstance(raw, str) else raw.decode()
                header = _HEADER.match(text)
                if header is None:
                    continue
                message_type, unique_id, action = header.groups()
                if message_type == "2" and action:
                    self._calls_received += 1
                    self._last_frame[action] = text
                    self._arrivals.setdefault(action, []).append(arrived)
                    await ws.send(f'[3,"{unique_id}",{results.get(action, "{}")}]')
                else:
                    future = self._pending.pop(unique_id, None)
                    if future is not None and not future.done():
                        future.set_result((arrived, int(message_type), text))
        except ConnectionClosed:
            pass
        finally:
            if self.connections.get(cp_id) is ws:
                del self.connections[cp_id]


@contextlib.asynccontextmanager
async def local_csms() -> AsyncIterator[MiniCsms]:
    """A MiniCsms in this process and event loop."""
    csms = MiniCsms()
    await csms.start()
    try:
        yield csms
    finally:
        await csms.stop()


class RemoteCsms:
    """A MiniCsms in a child process, driven over its stdin/stdout, one JSON line each way.

    Row b compares ``time.perf_counter()`` of both processes: on Linux it is
    CLOCK_MONOTONIC, which is system-wide.
    """

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self._proc = proc
        self._url = url
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return self._url

    async def _request(self, **command: Any) -> Any:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        async with self._lock, asyncio.timeout(ROW_TIMEOUT):
            self._proc.stdin.write(json.dumps(command).encode() + b"\n")
            await self._proc.stdin.drain()
            line = await self._proc.stdout.readline()
        if not line:
            raise BenchmarkError(f"CSMS subprocess exited during {command}")
        reply = json.loads(line)
        if "error" in reply:
            raise BenchmarkError(f"CSMS subprocess: {reply['error']}")
        return reply["result"]

    async def reset(self) -> None:
        await self._request(op="reset")

    async def round_trips(self, cp_id: str, count: int) -> tuple[list[float], str]:
        samples, first = await self._request(op="round_trips", cp_id=cp_id, count=count)
        return samples, first

    async def change_configuration(self, cp_id: str, count: int) -> tuple[list[float], int]:
        samples, refused = await self._request(op="change_configuration", cp_id=cp_id, count=count)
        return samples, refused

    async def snapshot(self) -> CsmsSnapshot:
        return CsmsSnapshot(**await self._request(op="snapshot"))


@contextlib.asynccontextmanager
async def csms_subprocess() -> AsyncIterator[RemoteCsms]:
    """A MiniCsms in a separate process (always for row d, for rows a-c with
    ``--same-process``)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve()),
        "--csms-server",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**24,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line.startswith(b"URL "):
            raise BenchmarkError(f"CSMS subprocess did not start: {line!r}")
        yield RemoteCsms(proc, line.decode().split()[1])
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), OP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def serve_csms_subprocess() -> None:
    """Body of ``--csms-server``: print the URL, then answer commands until stdin closes
    (bounded in count and time)."""
    csms = MiniCsms()
    url = await csms.start()
    print(f"URL {url}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CSMS_SERVER_LIFETIME):
            for _ in range(CSMS_SERVER_MAX_COMMANDS):
                line = await reader.readline()
                if not line:
                    break
                command = json.loads(line)
                reply: dict[str, Any]
                try:
                    op = command.pop("op")
                    if op == "reset":
                        await csms.reset()
                        reply = {"result": None}
                    elif op == "snapshot":
                        reply = {"result": dataclasses.asdict(await csms.snapshot())}
                    elif op == "round_trips":
                        reply = {"result": await csms.round_trips(**command)}
                    elif op == "change_configuration":
                        reply = {"result": await csms.change_configuration(**command)}
                    else:
                        reply = {"error": f"unknown op {op!r}"}
                except Exception as error:  # reported to the parent, which raises
                    reply = {"error": repr(error)}
                sys.stdout.write(json.dumps(reply) + "\n")
                sys.stdout.flush()
    await csms.stop()


# --------------------------------------------------------------------------- rows

_cp_numbers = itertools.count(1)


@contextlib.asynccontextmanager
async def connected_cp(
    factory: CPFactory, csms: CsmsControl, row: str
) -> AsyncIterator[tuple[str, ChargePointAdapter]]:
    """A fresh charge point, connected to ``csms`` and booted; closed afterwards."""
    cp_id = f"{row}-{next(_cp_numbers)}"
    cp = factory(cp_id)
    await csms.reset()
    try:
        async with asyncio.timeout(OP_TIMEOUT):
            await cp.connect(f"{csms.url}/{cp_id}")
        if "BootNotification" not in (await csms.snapshot()).last_frame:
            raise BenchmarkError("connect() returned before the charge point booted")
        yield cp_id, cp
    finally:
        async with asyncio.timeout(OP_TIMEOUT):
            await cp.close()


async def measure_round_trip(
    factory: CPFactory, csms: CsmsControl, n: int, warmup: int
) -> tuple[float, float]:
    """Row a: CSMS GetConfiguration CALL -> CALLRESULT, (p50, p99) in ms."""
    async with connected_cp(factory, csms, "rt") as (cp_id, _cp):
        gc.collect()
        samples, first = await csms.round_trips(cp_id, warmup + n)
    _check_get_configuration(first)
    samples = samples[warmup:]
    return percentile(samples, 50) * 1e3, percentile(samples, 99) * 1e3


async def measure_status_latency(
    factory: CPFactory, csms: CsmsControl, n: int, warmup: int
) -> tuple[float, float]:
    """Row b: "plug changed" input -> StatusNotification at the CSMS, (p50, p99) in ms."""
    total = warmup + n
    starts: list[float] = []
    async with connected_cp(factory, csms, "status") as (_cp_id, cp):
        inputs: asyncio.Queue[str] = asyncio.Queue()
        answered: asyncio.Queue[None] = asyncio.Queue()

        async def plug_input_task() -> None:
            # The charge point side: reacts to each input by sending a StatusNotification.
            for _ in range(total):
                status = await inputs.get()
                await cp.send_status(CONNECTOR_ID, status)
                answered.put_nowait(None)

        await csms.reset()
        pump = asyncio.create_task(plug_input_task())
        try:
            async with asyncio.timeout(ROW_TIMEOUT):
                gc.collect()
                for i in range(total):
                    status = "Preparing" if i % 2 == 0 else "Available"
                    start = time.perf_counter()
                    inputs.put_nowait(status)
                    async with asyncio.timeout(OP_TIMEOUT):
                        await answered.get()
                    starts.append(start)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        snapshot = await csms.snapshot()
    arrivals = snapshot.arrivals.get("StatusNotification", [])
    if len(arrivals) != total:
        raise BenchmarkError(f"CSMS got {len(arrivals)} StatusNotifications, expected {total}")
    _check_status(snapshot.last_frame.get("StatusNotification"), "Available")
    samples = [arrived - start for arrived, start in zip(arrivals, starts, strict=True)]
    if min(samples) <= 0:
        raise BenchmarkError("a StatusNotification arrived before its input was set")
    samples = samples[warmup:]
    return percentile(samples, 50) * 1e3, percentile(samples, 99) * 1e3


async def measure_meter_values(
    factory: CPFactory, csms: CsmsControl, n: int, warmup: int
) -> tuple[float, float]:
    """Row c: MeterValues one at a time, (messages/s, CPU µs per message of this process)."""
    async with connected_cp(factory, csms, "meter") as (_cp_id, cp):
        async with asyncio.timeout(ROW_TIMEOUT):
            for i in range(warmup):
                await _send_meter(cp, i)
            await csms.reset()
            gc.collect()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for i in range(warmup, warmup + n):
                await _send_meter(cp, i)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        snapshot = await csms.snapshot()
    received = len(snapshot.arrivals.get("MeterValues", []))
    if received != n:
        raise BenchmarkError(f"CSMS got {received} MeterValues, expected {n}")
    _check_meter_values(snapshot.last_frame.get("MeterValues"))
    return n / wall, cpu / n * 1e6


FSYNC_N = 200
FSYNC_WRITE = b"x" * 100


def fsync_floor(directory: str, count: int = FSYNC_N) -> float:
    """p50 seconds of a bare ``os.fsync`` after a small write to a file in ``directory``."""
    path = os.path.join(directory, "fsync_floor.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    samples: list[float] = []
    try:
        for _ in range(count):
            os.write(fd, FSYNC_WRITE)
            started = time.perf_counter()
            os.fsync(fd)
            samples.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        os.unlink(path)
    return percentile(samples, 50)


async def measure_durable_configuration(
    factory: CPFactory, csms: CsmsControl, n: int, warmup: int
) -> tuple[float, float, float]:
    """Row e: CSMS ChangeConfiguration CALL -> CALLRESULT Accepted, the value durable in the
    charge point's journal file first; (p50, p99, fsync floor p50) in ms."""
    async with connected_cp(factory, csms, "config") as (cp_id, cp):
        if not isinstance(cp, EngineAdapter) or cp.queue_dir is None:
            raise BenchmarkError("row e needs a charge point with a journal file")
        gc.collect()
        samples, refused = await csms.change_configuration(cp_id, warmup + n)
        stored = await asyncio.to_thread(cp.durable_setting, CC_KEY)
        fsync_p50 = await asyncio.to_thread(fsync_floor, cp.queue_dir)
    if refused:
        raise BenchmarkError(f"{refused} ChangeConfiguration answers were not Accepted")
    expected = CC_VALUES[(warmup + n - 1) % 2]
    if stored != expected:
        raise BenchmarkError(f"the journal file holds {CC_KEY}={stored!r}, expected {expected}")
    samples = samples[warmup:]
    return percentile(samples, 50) * 1e3, percentile(samples, 99) * 1e3, fsync_p50 * 1e3


async def _send_meter(cp: ChargePointAdapter, seq: int) -> None:
    async with asyncio.timeout(OP_TIMEOUT):
        await cp.send_meter_values(CONNECTOR_ID, build_meter_value(seq), TRANSACTION_ID)


def _payload(frame: str | None, what: str) -> dict[str, Any]:
    if frame is None:
        raise BenchmarkError(f"no {what} frame reached the CSMS")
    message = json.loads(frame)
    if not isinstance(message, list) or len(message) < 3 or not isinstance(message[-1], dict):
        raise BenchmarkError(f"malformed {what} frame: {frame}")
    payload: dict[str, Any] = message[-1]
    return payload


def _check_get_configuration(frame: str) -> None:
    payload = _payload(frame, "GetConfiguration CALLRESULT")
    keys = [entry.get("key") for entry in payload.get("configurationKey", [])]
    if "HeartbeatInterval" not in keys:
        raise BenchmarkError(f"GetConfiguration answer lacks HeartbeatInterval: {frame}")


def _check_status(frame: str | None, status: str) -> None:
    payload = _payload(frame, "StatusNotification")
    expected = {"connectorId": CONNECTOR_ID, "errorCode": "NoError", "status": status}
    if any(payload.get(key) != value for key, value in expected.items()):
        raise BenchmarkError(f"StatusNotification is not {expected}: {frame}")


def _check_meter_values(frame: str | None) -> None:
    payload = _payload(frame, "MeterValues")
    meter_value = payload.get("meterValue") or [{}]
    sampled = meter_value[0].get("sampledValue", [])
    if (
        payload.get("connectorId") != CONNECTOR_ID
        or len(sampled) != len(_SAMPLED)
        or not str(meter_value[0].get("timestamp", "")).endswith("Z")
        or {entry.get("measurand") for entry in sampled} != {row[0] for row in _SAMPLED}
    ):
        raise BenchmarkError(f"MeterValues frame does not carry the 10 sampled values: {frame}")


# --------------------------------------------------------------------------- row d


async def memory_worker(column: str, csms_url: str, count: int) -> dict[str, float]:
    """Row d, inside a fresh subprocess: RSS growth for ``count`` booted charge points.

    1. One warm-up charge point: its RSS growth is reported as the one-time cost (lazy
       imports, schema compilation, executor threads), not spread over the others.
    2. ``count`` filler charge points, not measured: imports and warm-up leave freed but
       still resident memory behind (how much depends on what the column imported), which
       the next charge points would reuse without growing RSS. The fillers use it up.
    3. RSS before, ``count`` more charge points, RSS after: (after - before) / count.
       Both readings come SETTLE_S after the last connect, the same for every column, so
       the charge points are at rest (the engine closes an idle queue file after 2 s).
    Every RSS reading follows gc.collect() and malloc_trim(0).
    """
    factory = column_factory(column)
    if factory is None:
        raise BenchmarkError(f"column {column!r} is not available")
    cps: list[ChargePointAdapter] = []
    try:
        async with asyncio.timeout(WORKER_TIMEOUT):
            rss_start = vmrss_kb()
            cps.append(await _connect_one(factory, csms_url, f"{column}-warmup"))
            await asyncio.sleep(0.05)
            rss_first = vmrss_kb()
            for i in range(count):
                cps.append(await _connect_one(factory, csms_url, f"{column}-fill{i:03d}"))
            await asyncio.sleep(SETTLE_S)
            rss_before = vmrss_kb()
            for i in range(count):
                cps.append(await _connect_one(factory, csms_url, f"{column}-{i:03d}"))
            await asyncio.sleep(SETTLE_S)  # at rest: connected and booted, nothing to do
            rss_after = vmrss_kb()
    finally:
        for cp in cps:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(OP_TIMEOUT):
                    await cp.close()
    return {
        "rss_first_cp_kb": float(rss_first - rss_start),
        "rss_kb_per_cp": (rss_after - rss_before) / count,
        "rss_before_kb": float(rss_before),
        "rss_after_kb": float(rss_after),
    }


async def _connect_one(factory: CPFactory, csms_url: str, cp_id: str) -> ChargePointAdapter:
    cp = factory(cp_id)
    async with asyncio.timeout(OP_TIMEOUT):
        await cp.connect(f"{csms_url}/{cp_id}")
    return cp


async def measure_memory(column: str, csms_url: str, count: int) -> dict[str, float]:
    """Row d: run ``memory_worker`` for ``column`` in its own fresh Python process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-worker",
        column,
        "--csms-url",
        csms_url,
        "--count",
        str(count),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), WORKER_TIMEOUT + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    for line in out.decode().splitlines():
        if line.startswith("RESULT "):
            result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
            return result
    raise BenchmarkError(f"memory worker for {column} failed:\n{err.decode()[-4000:]}")


# --------------------------------------------------------------------------- columns


async def measure_column(
    name: str,
    factory: CPFactory,
    csms_url: str,
    sizes: Sizes = FULL,
    csms: CsmsControl | None = None,
    *,
    durable_config: bool = False,
) -> Figures:
    """Rows a-d (and e with ``durable_config``) for one kind of charge point.

    ``csms_url`` is the out-of-process CSMS for row d; rows a-c and e use ``csms`` or, if
    None, a MiniCsms started in this process. ``name`` must be known to ``column_factory``
    so that the memory subprocess can build the same kind of charge point.
    """
    cc: tuple[float | None, float | None, float | None] = (None, None, None)
    async with contextlib.AsyncExitStack() as stack:
        if csms is None:
            csms = await stack.enter_async_context(local_csms())
        rt_p50, rt_p99 = await measure_round_trip(factory, csms, sizes.rt_n, sizes.rt_warmup)
        st_p50, st_p99 = await measure_status_latency(
            factory, csms, sizes.status_n, sizes.status_warmup
        )
        mv_rate, mv_cpu = await measure_meter_values(factory, csms, sizes.mv_n, sizes.mv_warmup)
        if durable_config:
            cc = await measure_durable_configuration(factory, csms, sizes.cc_n, sizes.cc_warmup)
    memory = await measure_memory(name, csms_url, sizes.mem_cps)
    return Figures(
        rt_p50_ms=rt_p50,
        rt_p99_ms=rt_p99,
        status_p50_ms=st_p50,
        status_p99_ms=st_p99,
        mv_per_s=mv_rate,
        mv_cpu_us=mv_cpu,
        rss_kb_per_cp=memory["rss_kb_per_cp"],
        rss_first_cp_kb=memory["rss_first_cp_kb"],
        cc_p50_ms=cc[0],
        cc_p99_ms=cc[1],
        fsync_p50_ms=cc[2],
    )


class FloorChargePoint:
    """Raw websockets + json, no validation: the least any charge point can do."""

    def __init__(self, cp_id: str) -> None:
        self.cp_id = cp_id
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._next_id = 0

    async def connect(self, url: str) -> None:
        self._ws = await connect(url, subprotocols=[SUBPROTOCOL])
        self._reader = asyncio.create_task(self._read_loop(self._ws))
        await self._call(
            "BootNotification", {"chargePointVendor": "ocpp_cp", "chargePointModel": "floor"}
        )

    async def send_status(self, connector_id: int, status: str) -> None:
        await self._call(
            "StatusNotification",
            {"connectorId": connector_id, "errorCode": "NoError", "status": status},
        )

    async def send_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], transaction_id: int | None
    ) -> None:
        payload: dict[str, Any] = {"connectorId": connector_id, "meterValue": meter_value}
        if transaction_id is not None:
            payload["transactionId"] = transaction_id
        await self._call("MeterValues", payload)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await self._reader

    async def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert self._ws is not None
        self._next_id += 1
        unique_id = str(self._next_id)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        await self._ws.send(json.dumps([2, unique_id, action, payload]))
        async with asyncio.timeout(OP_TIMEOUT):
            message = await future
        if message[0] != 3:
            raise BenchmarkError(f"{action} got {message}")
        result: dict[str, Any] = message[2]
        return result

    async def _read_loop(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message[0] == 2:
                if message[2] == "GetConfiguration":
                    answer = [3, message[1], {"configurationKey": [_HEARTBEAT_KEY]}]
                else:
                    answer = [4, message[1], "NotImplemented", "", {}]
                await ws.send(json.dumps(answer))
            else:
                future = self._pending.pop(message[1], None)
                if future is not None and not future.done():
                    future.set_result(message)


_HEARTBEAT_KEY: dict[str, Any] = {"key": "HeartbeatInterval", "readonly": False, "value": "300"}


class _PlainLibCP(OcppChargePoint):  # type: ignore[misc]
    """A charge point as the ocpp library's README writes one."""

    @on(Action.get_configuration)  # type: ignore[misc]
    async def on_get_configuration(
        self, key: list[str] | None = None, **_: Any
    ) -> call_result.GetConfiguration:
        return call_result.GetConfiguration(configuration_key=[dict(_HEARTBEAT_KEY)])


class PlainLibChargePoint:
    """Adapter around ``_PlainLibCP`` with default library settings."""

    def __init__(self, cp_id: str) -> None:
        self.cp_id = cp_id
        self._ws: ClientConnection | None = None
        self._cp: _PlainLibCP | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, url: str) -> None:
        self._ws = await connect(url, subprotocols=[SUBPROTOCOL])
        self._cp = _PlainLibCP(self.cp_id, self._ws)
        self._task = asyncio.create_task(self._cp.start())
        response = await self._cp.call(
            call.BootNotification(charge_point_model="plain", charge_point_vendor="ocpp_cp")
        )
        if response is None or response.status != "Accepted":
            raise BenchmarkError(f"BootNotification got {response}")

    async def send_status(self, connector_id: int, status: str) -> None:
        assert self._cp is not None
        await self._cp.call(
            call.StatusNotification(
                connector_id=connector_id, error_code=ChargePointErrorCode.no_error, status=status
            )
        )

    async def send_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], transaction_id: int | None
    ) -> None:
        assert self._cp is not None
        await self._cp.call(
            call.MeterValues(
                connector_id=connector_id, meter_value=meter_value, transaction_id=transaction_id
            )
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await self._task
        if self._ws is not None:
            await self._ws.close()


# ------------------------------------------------------------------ engine column (slot)

_NOTES: list[str] = []


class EngineAdapter:
    """The ocpp_cp engine behind the benchmark interface, driven through its real input path.

    Every engine has a real journal file (``queue_path`` in a temporary directory: SQLite WAL,
    ``synchronous=FULL``), as in Home Assistant. Row a is answered by the GetConfiguration
    handler (``ocpp16/handlers``) through ``OcppRpc``; row b toggles the plug input
    (``set_plugged``): ``ConnectorService`` queues the StatusNotification and its sender
    sends it; row c feeds the ten readings through ``set_reading`` and calls
    ``send_meter_values``: ``MeteringService.send_now`` builds the sampled values
    (``sampled_values`` with the limit service's offered current, ``now_stamp``) and sends
    them with ``OcppRpc.call_action`` (compiled schema validation, no journal: there is no
    transaction); row e is answered by the ChangeConfiguration handler, which awaits
    ``ConfigurationService.change`` -> ``Journal.save_document`` (one fsynced commit) before
    it answers Accepted.
    """

    def __init__(self, engine_module: ModuleType, charge_point_id: str) -> None:
        self._module = engine_module
        self._charge_point_id = charge_point_id
        self._engine: Any = None
        self.queue_dir: str | None = None

    async def connect(self, url: str) -> None:
        module = self._module
        base = url.rsplit("/", 1)[0]
        settings = module.EngineSettings(
            csms_url=base,
            charge_point_id=self._charge_point_id,
            measurands=frozenset(m for m, _, _, _ in _SAMPLED if m != "Current.Offered"),
            call_timeout=OP_TIMEOUT,
        )
        # A real queue file per charge point, as in Home Assistant: its SQLite connection counts.
        self.queue_dir = tempfile.mkdtemp(prefix="ocpp_cp_bench_")
        engine = module.ChargePointEngine(
            settings,
            module.NullHardware(),
            module.MemoryStorage(),
            queue_path=os.path.join(self.queue_dir, JOURNAL_FILE),
        )
        self._engine = engine
        await engine.start()
        measurands = ",".join(dict.fromkeys(m for m, _, _, _ in _SAMPLED))
        outcome, why = engine.config.change("MeterValuesSampledData", measurands)
        if outcome != "Accepted":
            raise BenchmarkError(f"engine refused MeterValuesSampledData: {why}")
        async with asyncio.timeout(OP_TIMEOUT):
            while engine.state != module.ConnectionState.ACCEPTED:
                await asyncio.sleep(0.001)
            await self._idle()

    async def _idle(self) -> None:
        """Until every queued StatusNotification has been sent and answered (reads the
        connector service's status queue, private, and the wire's unfinished CALLs: the call
        lock alone is unlocked for a loop pass while it passes to the next waiter, and a
        boot-time status waiting behind another CALL was once counted as row b's first)."""
        engine = self._engine
        statuses = engine.services.connectors._queue
        wire = engine.wire
        await asyncio.sleep(0)
        while statuses or wire.unfinished_calls:
            await asyncio.sleep(0)

    def durable_setting(self, key: str) -> str | None:
        """``key`` as the journal FILE holds it (a separate SQLite connection, read-only)."""
        if self.queue_dir is None:
            return None
        path = Path(self.queue_dir, JOURNAL_FILE)
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            row = db.execute(
                "SELECT value FROM documents WHERE key = ?", (CONFIGURATION_DOCUMENT,)
            ).fetchone()
        finally:
            db.close()
        if row is None:
            return None
        value = json.loads(row[0]).get(key)
        return None if value is None else str(value)

    async def send_status(self, connector_id: int, status: str) -> None:
        self._engine.set_plugged(connector_id, status == "Preparing")
        async with asyncio.timeout(OP_TIMEOUT):
            await self._idle()

    async def send_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], transaction_id: int | None
    ) -> None:
        del transaction_id  # the engine adds it itself during a transaction
        engine = self._engine
        for entry in meter_value[0]["sampledValue"]:
            if entry["measurand"] != "Current.Offered":  # the engine knows the offer itself
                engine.set_reading(
                    connector_id, entry["measurand"], float(entry["value"]), entry.get("phase")
                )
        if not await engine.send_meter_values(connector_id, "Sample.Periodic"):
            raise BenchmarkError("the engine did not deliver MeterValues")

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.stop()
        if self.queue_dir is not None:
            shutil.rmtree(self.queue_dir, ignore_errors=True)


def _engine_adapter_factory(engine: ModuleType) -> CPFactory | None:
    """A ``CPFactory`` building ``EngineAdapter``s, or None if the engine lacks the API."""
    needed = ("ChargePointEngine", "EngineSettings", "NullHardware", "MemoryStorage")
    if not all(hasattr(engine, name) for name in needed):
        return None
    return lambda charge_point_id: EngineAdapter(engine, charge_point_id)


def engine_factory() -> CPFactory | None:
    """The engine column's factory, or None if the engine cannot be imported or lacks the API."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        engine = importlib.import_module(ENGINE_MODULE)
    except Exception as error:  # an engine mid-edit must not break the other columns
        _NOTES.append(f"engine column n/a: cannot import {ENGINE_MODULE}: {error!r}")
        return None
    factory = _engine_adapter_factory(engine)
    if factory is None:
        _NOTES.append(f"engine column n/a: no benchmark adapter for {ENGINE_MODULE} yet")
    return factory


async def measure_engine(
    csms_url: str, sizes: Sizes = FULL, csms: CsmsControl | None = None
) -> Figures | None:
    """The ``ocpp_cp engine`` column; None (printed as n/a) while the engine is unavailable.

    ``csms_url`` is the out-of-process CSMS used for row d; rows a-c use ``csms`` or,
    if None, a MiniCsms in this process (see ``measure_column``).
    """
    factory = engine_factory()
    if factory is None:
        return None
    return await measure_column("engine", factory, csms_url, sizes, csms, durable_config=True)


def column_factory(column: str) -> CPFactory | None:
    """Factory by column name; used by the memory subprocess."""
    if column == "floor":
        return FloorChargePoint
    if column == "plain":
        return PlainLibChargePoint
    if column == "engine":
        return engine_factory()
    raise BenchmarkError(f"unknown column {column!r}")


# --------------------------------------------------------------------------- report

COLUMNS: tuple[tuple[str, str], ...] = (
    ("engine", "ocpp_cp engine"),
    ("plain", "plain ocpp lib"),
    ("floor", "floor"),
)
ROWS: tuple[tuple[str, str, str], ...] = (
    ("rt_p50_ms", "a. CSMS call -> CALLRESULT p50 (ms)", "{:.3f}"),
    ("rt_p99_ms", "   CSMS call -> CALLRESULT p99 (ms)", "{:.3f}"),
    ("status_p50_ms", "b. input -> StatusNotification p50 (ms)", "{:.3f}"),
    ("status_p99_ms", "   input -> StatusNotification p99 (ms)", "{:.3f}"),
    ("mv_per_s", "c. MeterValues, one at a time (msg/s)", "{:,.0f}"),
    ("mv_cpu_us", "   CPU per MeterValues (µs)", "{:,.0f}"),
    ("rss_kb_per_cp", "d. RSS per connected charge point (KB)", "{:,.1f}"),
    ("rss_first_cp_kb", "   first charge point incl. one-time (KB)", "{:,.0f}"),
    ("cc_p50_ms", "e. ChangeConfiguration -> Accepted, durable p50 (ms)", "{:.3f}"),
    ("cc_p99_ms", "   ChangeConfiguration -> Accepted, durable p99 (ms)", "{:.3f}"),
    ("fsync_p50_ms", "   fsync floor p50, same directory (ms)", "{:.3f}"),
)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def targets(figures: dict[str, Figures | None]) -> list[dict[str, Any]]:
    """The target ratios, for the engine and (as a reference) the plain library."""

    def get(column: str, field: str) -> float | None:
        column_figures = figures.get(column)
        return None if column_figures is None else float(getattr(column_figures, field))

    return [
        {
            "name": "round-trip p50 engine/floor",
            "value": _ratio(get("engine", "rt_p50_ms"), get("floor", "rt_p50_ms")),
            "reference": _ratio(get("plain", "rt_p50_ms"), get("floor", "rt_p50_ms")),
            "unit": "x",
            "target": "<= 1.5x",
            "met": lambda v: v <= 1.5,
        },
        {
            "name": "MeterValues throughput engine/floor",
            "value": _ratio(get("engine", "mv_per_s"), get("floor", "mv_per_s")),
            "reference": _ratio(get("plain", "mv_per_s"), get("floor", "mv_per_s")),
            "reference_label": "plain/floor",
            "unit": "x",
            "target": f">= {MV_FLOOR_TARGET:g}x",
            "met": lambda v: v >= MV_FLOOR_TARGET,
        },
        {
            "name": "MeterValues throughput engine/plain",
            "value": _ratio(get("engine", "mv_per_s"), get("plain", "mv_per_s")),
            "reference": _ratio(get("floor", "mv_per_s"), get("plain", "mv_per_s")),
            "reference_label": "floor/plain",
            "unit": "x",
            "target": ">= 2x",
            "met": lambda v: v >= 2.0,
        },
        {
            "name": "KB per charge point (engine)",
            "value": get("engine", "rss_kb_per_cp"),
            "reference": get("plain", "rss_kb_per_cp"),
            "unit": " KB",
            "target": "< 250 KB",
            "met": lambda v: v < 250.0,
        },
        {
            "name": "ChangeConfiguration durable p50 (engine)",
            "value": get("engine", "cc_p50_ms"),
            "reference": get("engine", "fsync_p50_ms"),
            "reference_label": "fsync floor p50",
            "unit": " ms",
            "target": f"< {CC_TARGET_P50_MS:g} ms",
            "met": lambda v: v < CC_TARGET_P50_MS,
        },
    ]


def render(figures: dict[str, Figures | None], meta: dict[str, Any]) -> str:
    lines = [
        f"ocpp_cp charge point benchmark -- {meta['mode']} run, python {meta['python']}, "
        f"ocpp {meta['ocpp']}, websockets {meta['websockets']}, {meta['cpus']} CPUs",
        f"CSMS for rows a-c: {meta['csms_rows_a_c']}; for row d: separate process",
        "",
    ]
    label_width = max(len(label) for _, label, _ in ROWS) + 2
    header = " " * label_width + "".join(f"{title:>16}" for _, title in COLUMNS)
    lines += [header, "-" * len(header)]
    for field, label, fmt in ROWS:
        cells = []
        for column, _ in COLUMNS:
            column_figures = figures.get(column)
            value = None if column_figures is None else getattr(column_figures, field)
            cells.append(f"{'n/a' if value is None else fmt.format(value):>16}")
        lines.append(f"{label:<{label_width}}" + "".join(cells))
    lines += ["", "targets (same run)"]
    table = targets(figures)
    name_width = max(len(target["name"]) for target in table) + 2
    for target in table:
        value = target["value"]
        shown = "n/a" if value is None else f"{value:.2f}{target['unit']}"
        verdict = "" if value is None else ("  met" if target["met"](value) else "  MISSED")
        reference = target["reference"]
        ref_label = target.get("reference_label", "plain lib")
        ref = "" if reference is None else f"   ({ref_label}: {reference:.2f}{target['unit']})"
        lines.append(
            f"  {target['name']:<{name_width}}{shown:>10}   target {target['target']:<9}"
            f"{verdict}{ref}"
        )
    lines += ["", *_NOTES, f"run time: {meta['run_time_s']:.1f} s"]
    return "\n".join(line.rstrip() for line in lines)


def _meta(mode: str) -> dict[str, Any]:
    return {
        "mode": mode,
        "python": platform.python_version(),
        "ocpp": metadata.version("ocpp"),
        "websockets": metadata.version("websockets"),
        "cpus": os.cpu_count(),
    }


async def run(sizes: Sizes, csms_process: bool) -> dict[str, Figures | None]:
    """Measure every column against the same CSMS code, in one run."""
    figures: dict[str, Figures | None] = {}
    async with csms_subprocess() as remote, contextlib.AsyncExitStack() as stack:
        csms: CsmsControl = remote
        if not csms_process:
            csms = await stack.enter_async_context(local_csms())
        url = remote.url
        figures["floor"] = await measure_column("floor", FloorChargePoint, url, sizes, csms)
        figures["plain"] = await measure_column("plain", PlainLibChargePoint, url, sizes, csms)
        figures["engine"] = await measure_engine(url, sizes, csms)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N, a smoke run (< 30 s)")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write figures as JSON")
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run the CSMS of rows a-c in this process (default: a separate process, as a real "
        "CSMS is; that is where the issue's floor of ~0.37 ms / ~2,500 msg/s was measured)",
    )
    # Internal: the subprocesses of row d.
    parser.add_argument("--csms-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", metavar="COLUMN", help=argparse.SUPPRESS)
    parser.add_argument("--csms-url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=FULL.mem_cps, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.csms_server:
        asyncio.run(serve_csms_subprocess())
        return
    if args.memory_worker:
        result = asyncio.run(memory_worker(args.memory_worker, args.csms_url, args.count))
        print("RESULT " + json.dumps(result), flush=True)
        return

    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    figures = asyncio.run(run(sizes, not args.same_process))
    meta = _meta("quick" if args.quick else "full")
    meta["csms_rows_a_c"] = "same process" if args.same_process else "separate process"
    meta["run_time_s"] = time.perf_counter() - started
    meta["sizes"] = dataclasses.asdict(sizes)
    print(render(figures, meta))
    if args.json is not None:
        document = {
            "meta": meta,
            "columns": {
                column: None if value is None else dataclasses.asdict(value)
                for column, value in figures.items()
            },
            "targets": [
                {key: value for key, value in target.items() if key != "met"}
                for target in targets(figures)
            ],
            "notes": _NOTES,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
