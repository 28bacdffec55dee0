"""HA bridge benchmark: latency through the ocpp_cp integration inside a running Home Assistant.

Run:  $(bash scripts/venv.sh)/bin/python benchmarks/bridge.py [--quick] [--json FILE]

A Home Assistant test instance (``async_test_home_assistant`` from
pytest-homeassistant-custom-component, custom integrations enabled, a temporary config
directory) sets up a real ``ocpp_cp`` config entry that connects to a real CSMS on
127.0.0.1 (``tests.csms.TestCsms``: the ``ocpp`` library's CSMS side). Three rows:

1. ``hass.states.async_set("binary_sensor.car_plugged", "on"/"off")``, alternately ->
   the StatusNotification (Preparing / Available) arriving at the CSMS.
2. The CSMS sends RemoteStartTransaction (connector 1, car plugged in) -> the mapped
   ``switch.turn_on`` service call reaching a handler registered with
   ``hass.services.async_register``.
3. The CSMS sends RemoteStopTransaction for that transaction -> ``switch.turn_off``.

p50 / p99 in ms; target p50 < 5 ms for each row (printed, no exit code).

Clocks and placement: the CSMS runs in this process, in Home Assistant's event loop, and
every time stamp is ``time.perf_counter()`` taken in this process, so no clock is compared
across processes. The CSMS side's connection is wrapped by ``WireTap``, which stamps each
frame where it crosses the websocket: a frame "arrives at the CSMS" when the CSMS's
``recv()`` returns it (before the ``ocpp`` library validates it in an executor thread), and
a command "is sent" right before the CSMS's ``send()`` writes it (after the library has
validated it). So neither the CSMS library's validation nor its handlers are counted.

Between two samples the benchmark waits until the charge point is idle (no call waiting
for an answer, no StatusNotification queued, no journal write on its way (``ctx.persisting``),
no transaction message in the journal waiting for delivery (``journal.pending``, the delivery's
``idle`` event), no follow-up task running, Home Assistant idle), so every sample starts from
rest. The engine writes each transaction change (StartTransaction, StopTransaction) as one
fsynced commit of its journal before it sends it. Every toggle must produce exactly one
StatusNotification with the expected status; every RemoteStart must be accepted and produce
one StartTransaction and one ``switch.turn_on``; every RemoteStop one StopTransaction (reason
Remote) and one ``switch.turn_off``. Anything else, or an error logged while measuring,
aborts the run with ``BenchmarkError``.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent))
import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import percentile

# Home Assistant, the ocpp library and the project are imported where they are used, so that
# their import time (a few seconds) counts in the printed run time.
if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant, ServiceCall
    from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
        MockConfigEntry,
    )

    from custom_components.ocpp_cp.bridge import OcppCpBridge
    from tests.csms import TestCsms

REPO_ROOT = Path(__file__).resolve().parents[1]
OP_TIMEOUT = 10.0  # seconds for any single wait (a frame, a service call, idle)
RUN_TIMEOUT = 900.0  # seconds for the whole measurement
CONNECTOR_ID = 1
ID_TAG = "BENCH"
TARGET_P50_MS = 5.0

PLUG = "binary_sensor.car_plugged"
SWITCH = "switch.charger_enable"
NUMBER = "number.charger_current"
POWER = "sensor.charger_power"
ENERGY = "sensor.charger_energy"
VOLTAGE = "sensor.charger_voltage"
CURRENT = "sensor.charger_current"
SOC = "sensor.car_soc"


class BenchmarkError(RuntimeError):
    """The integration did not do what a sample requires; the figures would be meaningless."""


@dataclass(frozen=True, slots=True)
class Sizes:
    status_n: int = 500
    status_warmup: int = 50
    remote_pairs: int = 300
    remote_warmup: int = 30


FULL = Sizes()
QUICK = Sizes(status_n=100, status_warmup=10, remote_pairs=50, remote_warmup=5)


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    label: str
    n: int
    p50_ms: float
    p99_ms: float
    max_ms: float


# --------------------------------------------------------------------------- helpers


def make_row(key: str, label: str, samples_s: list[float]) -> Row:
    ms = [s * 1000.0 for s in samples_s]
    return Row(key, label, len(ms), percentile(ms, 50), percentile(ms, 99), max(ms))


async def within[T](awaitable: Awaitable[T], what: str) -> T:
    """``await awaitable``, at most OP_TIMEOUT seconds; a timeout names what was missing."""
    try:
        return await asyncio.wait_for(awaitable, OP_TIMEOUT)
    except TimeoutError:
        raise BenchmarkError(f"no {what} within {OP_TIMEOUT:g} s") from None


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Yield to the loop until ``predicate()`` holds; at most OP_TIMEOUT seconds."""
    deadline = time.perf_counter() + OP_TIMEOUT
    spins = 0
    while not predicate():
        if time.perf_counter() > deadline:
            raise BenchmarkError(f"timed out waiting for {what}")
        spins += 1
        # a few bare yields first (the usual case), then short sleeps (executor work)
        await asyncio.sleep(0 if spins < 200 else 0.0005)


class ErrorLog(logging.Handler):
    """Collects every ERROR record, so a run with errors fails instead of printing figures."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class WireTap:
    """Wraps the CSMS side's connection and stamps frames where they cross the websocket.

    It stands in for ``tests.csms.RecordingConnection`` as the ``ocpp`` library's
    ``_connection``: ``recv()`` stamps each frame from the charge point the moment the
    CSMS gets it, ``send()`` stamps each command right before it is written.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls_in: Counter[str] = Counter()
        self.sent_at: dict[str, float] = {}  # action of a CALL the CSMS sent -> last stamp
        self._waiters: dict[str, asyncio.Future[tuple[float, dict[str, Any]]]] = {}

    def expect(self, action: str) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        """A future for the next CALL ``action`` from the charge point: (stamp, payload)."""
        if action in self._waiters:
            raise BenchmarkError(f"already waiting for {action}")
        future: asyncio.Future[tuple[float, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiters[action] = future
        return future

    async def recv(self) -> str:
        text: str = await self._inner.recv()
        at = time.perf_counter()
        frame = json.loads(text)
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
            action = str(frame[2])
            self.calls_in[action] += 1
            waiter = self._waiters.pop(action, None)
            if waiter is not None and not waiter.done():
                waiter.set_result((at, frame[3]))
        return text

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        at = time.perf_counter()
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
            self.sent_at[str(frame[2])] = at
        await self._inner.send(message)


class SwitchRecorder:
    """The test service handlers of ``switch.turn_on`` / ``switch.turn_off``."""

    def __init__(self, hass: HomeAssistant) -> None:
        from homeassistant.core import callback

        self.calls: Counter[str] = Counter()
        self.entity_ids: set[str] = set()
        self._waiters: dict[str, asyncio.Future[float]] = {}

        @callback  # run in the loop like any light-weight handler, not in an executor
        def handle(service_call: ServiceCall) -> None:
            self._record(service_call)

        for service in ("turn_on", "turn_off"):
            hass.services.async_register("switch", service, handle)

    def _record(self, service_call: ServiceCall) -> None:
        at = time.perf_counter()
        self.calls[service_call.service] += 1
        entity_id = service_call.data.get("entity_id")
        self.entity_ids.update(entity_id if isinstance(entity_id, list) else [str(entity_id)])
        waiter = self._waiters.pop(service_call.service, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(at)

    def expect(self, service: str) -> asyncio.Future[float]:
        if service in self._waiters:
            raise BenchmarkError(f"already waiting for switch.{service}")
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[service] = future
        return future


# --------------------------------------------------------------------------- set-up


def entry_for(csms: TestCsms) -> MockConfigEntry:
    """The same entry shape as tests/integration/test_bridge.py."""
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from custom_components.ocpp_cp.const import DOMAIN

    return MockConfigEntry(
        domain=DOMAIN,
        title="CP1",
        unique_id=f"{csms.url}|CP1",
        data={
            "csms_url": csms.url,
            "charge_point_id": "CP1",
            "security_profile": 0,
            "vendor": "ocpp_cp",
            "model": "Benchmark",
            "number_of_connectors": 1,
        },
        options={
            "mapping": {
                "1": {
                    "charge_switch": SWITCH,
                    "current_number": NUMBER,
                    "plug_sensor": PLUG,
                    "power": POWER,
                    "energy": ENERGY,
                    "voltage": VOLTAGE,
                    "current": CURRENT,
                    "soc": SOC,
                    "phases": 1,
                }
            },
            "default_id_tag": "HOMEUSER",
        },
    )


def set_source_states(hass: HomeAssistant) -> None:
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    hass.states.async_set(NUMBER, "16", {"min": 6, "max": 32, "unit_of_measurement": "A"})
    hass.states.async_set(POWER, "0", {"unit_of_measurement": "kW"})
    hass.states.async_set(ENERGY, "12.345", {"unit_of_measurement": "kWh"})
    hass.states.async_set(VOLTAGE, "231", {"unit_of_measurement": "V"})
    hass.states.async_set(CURRENT, "0", {"unit_of_measurement": "A"})
    hass.states.async_set(SOC, "40", {"unit_of_measurement": "%"})


def charge_point_idle(hass: HomeAssistant, bridge: OcppCpBridge) -> Callable[[], bool]:
    """Nothing in flight: no call awaiting an answer, no status report queued, no journal
    write on its way, no transaction message or security event waiting for delivery, no
    follow-up running.

    Reads the wire's ``unfinished_calls`` and private engine attributes (the connector service's
    status ``_queue``); only used to let the system come to rest between samples, never for a
    time stamp.
    """
    engine = bridge.engine
    ctx = engine.ctx
    services = engine.services

    def idle() -> bool:
        return not (
            engine.wire.unfinished_calls
            or services.connectors._queue
            or ctx.persisting
            or ctx.journal.pending
            or not services.delivery.idle.is_set()
            or not services.security.idle.is_set()
            or ctx.tasks - {services.security.sender}  # that sender never ends
            or hass._tasks
        )

    return idle


async def settle(hass: HomeAssistant, bridge: OcppCpBridge) -> None:
    await wait_until(charge_point_idle(hass, bridge), "the charge point to become idle")
    for _ in range(3):  # let any last callbacks (websocket reads, state writes) run
        await asyncio.sleep(0)
    await wait_until(charge_point_idle(hass, bridge), "the charge point to become idle")


async def install_tap(csms: TestCsms) -> WireTap:
    """Wrap the connected session's connection; one flushing frame makes it take effect."""
    from ocpp.v16 import call

    side = csms.session.side
    tap = WireTap(side._connection)
    side._connection = tap
    # The CSMS's pending recv() still belongs to the old connection object: let one frame
    # (the TriggerMessage answer) go through it, so the Heartbeat that follows is tapped.
    heartbeat = tap.expect("Heartbeat")
    result = await within(
        csms.call(call.TriggerMessage(requested_message="Heartbeat")), "TriggerMessage answer"
    )
    if result.status != "Accepted":
        raise BenchmarkError(f"TriggerMessage(Heartbeat) answered {result.status}")
    await within(heartbeat, "triggered Heartbeat through the tap")
    return tap


# --------------------------------------------------------------------------- rows


async def measure_status(
    hass: HomeAssistant,
    bridge: OcppCpBridge,
    csms: TestCsms,
    tap: WireTap,
    warmup: int,
    n: int,
) -> list[float]:
    """Row 1: plug sensor state change -> StatusNotification at the CSMS."""
    samples: list[float] = []
    received_before = len(csms.actions("StatusNotification"))
    plugged = hass.states.get(PLUG)
    on = plugged is not None and plugged.state == "on"
    await settle(hass, bridge)
    gc.collect()
    for index in range(warmup + n):
        on = not on
        expected = "Preparing" if on else "Available"
        arrived = tap.expect("StatusNotification")
        started = time.perf_counter()
        hass.states.async_set(PLUG, "on" if on else "off")
        at, payload = await within(arrived, f"StatusNotification after toggle {index}")
        if payload.get("connectorId") != CONNECTOR_ID or payload.get("status") != expected:
            raise BenchmarkError(f"toggle {index}: expected {expected}, got {payload}")
        if index >= warmup:
            samples.append(at - started)
        await settle(hass, bridge)
    received = len(csms.actions("StatusNotification")) - received_before
    if received != warmup + n:
        raise BenchmarkError(
            f"{warmup + n} plug toggles produced {received} StatusNotifications at the CSMS"
        )
    return samples


async def measure_remote(
    hass: HomeAssistant,
    bridge: OcppCpBridge,
    csms: TestCsms,
    tap: WireTap,
    switch: SwitchRecorder,
    warmup: int,
    pairs: int,
) -> tuple[list[float], list[float]]:
    """Rows 2 and 3: RemoteStart -> switch.turn_on, RemoteStop -> switch.turn_off."""
    from ocpp.v16 import call

    connector = bridge.engine.connectors[CONNECTOR_ID]
    hass.states.async_set(PLUG, "on")
    await settle(hass, bridge)
    if not connector.plugged or connector.transaction is not None:
        raise BenchmarkError("connector 1 is not plugged in and free before the remote rows")
    starts_before = len(csms.actions("StartTransaction"))
    stops_before = len(csms.actions("StopTransaction"))
    on_before, off_before = switch.calls["turn_on"], switch.calls["turn_off"]
    start_samples: list[float] = []
    stop_samples: list[float] = []
    gc.collect()
    for index in range(warmup + pairs):
        # -- start
        turned_on = switch.expect("turn_on")
        start_tx = tap.expect("StartTransaction")
        tap.sent_at.pop("RemoteStartTransaction", None)
        result = await within(
            csms.call(call.RemoteStartTransaction(id_tag=ID_TAG, connector_id=CONNECTOR_ID)),
            f"answer to RemoteStartTransaction {index}",
        )
        sent = tap.sent_at["RemoteStartTransaction"]
        if result.status != "Accepted":
            raise BenchmarkError(f"pair {index}: RemoteStartTransaction {result.status}")
        on_at = await within(turned_on, f"switch.turn_on after RemoteStartTransaction {index}")
        _, payload = await within(start_tx, f"StartTransaction after RemoteStart {index}")
        if payload.get("idTag") != ID_TAG or payload.get("connectorId") != CONNECTOR_ID:
            raise BenchmarkError(f"pair {index}: unexpected StartTransaction {payload}")
        await wait_until(
            lambda: connector.transaction is not None
            and connector.transaction.transaction_id is not None,
            f"pair {index}: the transaction id",
        )
        transaction = connector.transaction
        if transaction is None or transaction.transaction_id is None:
            raise BenchmarkError(f"pair {index}: the transaction ended before it was stopped")
        transaction_id = transaction.transaction_id
        await settle(hass, bridge)
        # -- stop
        turned_off = switch.expect("turn_off")
        stop_tx = tap.expect("StopTransaction")
        tap.sent_at.pop("RemoteStopTransaction", None)
        result = await within(
            csms.call(call.RemoteStopTransaction(transaction_id=transaction_id)),
            f"answer to RemoteStopTransaction {index}",
        )
        stop_sent = tap.sent_at["RemoteStopTransaction"]
        if result.status != "Accepted":
            raise BenchmarkError(f"pair {index}: RemoteStopTransaction {result.status}")
        off_at = await within(turned_off, f"switch.turn_off after RemoteStopTransaction {index}")
        _, payload = await within(stop_tx, f"StopTransaction after RemoteStop {index}")
        if payload.get("transactionId") != transaction_id or payload.get("reason") != "Remote":
            raise BenchmarkError(f"pair {index}: unexpected StopTransaction {payload}")
        if connector.transaction is not None:
            raise BenchmarkError(f"pair {index}: the transaction is still open")
        await settle(hass, bridge)
        if index >= warmup:
            start_samples.append(on_at - sent)
            stop_samples.append(off_at - stop_sent)
    total = warmup + pairs
    counts = {
        "StartTransaction at the CSMS": len(csms.actions("StartTransaction")) - starts_before,
        "StopTransaction at the CSMS": len(csms.actions("StopTransaction")) - stops_before,
        "switch.turn_on calls": switch.calls["turn_on"] - on_before,
        "switch.turn_off calls": switch.calls["turn_off"] - off_before,
    }
    wrong = {name: count for name, count in counts.items() if count != total}
    if wrong:
        raise BenchmarkError(f"{total} remote start/stop pairs, but {wrong}")
    if switch.entity_ids != {SWITCH}:
        raise BenchmarkError(f"service calls for {sorted(switch.entity_ids)}, not {SWITCH}")
    return start_samples, stop_samples


# --------------------------------------------------------------------------- run


@contextlib.asynccontextmanager
async def home_assistant_with_csms(
    config_dir: str,
) -> AsyncIterator[tuple[HomeAssistant, TestCsms, ErrorLog]]:
    """A Home Assistant test instance that scans ``custom_components`` (what the plugin's
    enable_custom_integrations fixture does), a real CSMS on 127.0.0.1 and a log of every
    ERROR record. On the way out every ocpp_cp entry is unloaded and both are stopped."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from homeassistant import loader
    from homeassistant.config_entries import ConfigEntryState
    from homeassistant.helpers import frame as ha_frame
    from homeassistant.setup import async_setup_component
    from pytest_homeassistant_custom_component.common import async_test_home_assistant

    from custom_components.ocpp_cp.const import DOMAIN
    from tests.csms import TestCsms

    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            ha_frame.async_setup(hass)
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            # number and switch first: set up with ocpp_cp's platforms later, they would
            # register their services over the benchmark's handlers (as in
            # tests/integration/conftest.py)
            for domain in ("number", "switch"):
                if not await async_setup_component(hass, domain, {}):
                    raise BenchmarkError(f"{domain} did not set up")
            csms = await TestCsms.start()
            try:
                yield hass, csms, errors
            finally:
                for entry in hass.config_entries.async_entries(DOMAIN):
                    if entry.state is ConfigEntryState.LOADED:
                        await hass.config_entries.async_unload(entry.entry_id)
                await csms.stop()
                await hass.async_stop(force=True)
    finally:
        logging.getLogger().removeHandler(errors)


def raise_if_logged(errors: ErrorLog) -> None:
    """Figures measured while something logged an error would be meaningless."""
    if errors.records:
        first = errors.records[0]
        raise BenchmarkError(
            f"{len(errors.records)} error(s) logged while measuring, first: "
            f"{first.name}: {first.getMessage()}"
        )


def run_on_home_assistant_loop[T](
    measure: Callable[[str], Awaitable[T]], prefix: str, timeout: float
) -> T:
    """``measure(config_dir)`` on the event loop Home Assistant itself runs on, in a temporary
    config directory, at most ``timeout`` seconds."""
    from homeassistant import runner

    policy = runner.HassEventLoopPolicy(False)
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as config_dir,
        asyncio.Runner(loop_factory=policy.new_event_loop) as loop_runner,
    ):
        return loop_runner.run(asyncio.wait_for(measure(config_dir), timeout))


async def measure(sizes: Sizes, config_dir: str) -> tuple[list[Row], dict[str, Any]]:
    from pytest_homeassistant_custom_component.common import async_mock_service

    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    default_handler = loop.get_exception_handler()

    def on_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        loop_errors.append(context)
        if default_handler is not None:
            default_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(on_loop_error)
    info: dict[str, Any] = {}
    timings: dict[str, float] = {}
    try:
        async with home_assistant_with_csms(config_dir) as (hass, csms, errors):
            switch = SwitchRecorder(hass)
            async_mock_service(hass, "number", "set_value")
            set_source_states(hass)
            entry = entry_for(csms)
            entry.add_to_hass(hass)
            began = time.perf_counter()
            if not await hass.config_entries.async_setup(entry.entry_id):
                raise BenchmarkError("the config entry did not set up")
            await hass.async_block_till_done()
            await within(
                csms.wait_for("StatusNotification", lambda p: p["connector_id"] == CONNECTOR_ID),
                "StatusNotification of connector 1 after set-up",
            )
            timings["setup_to_first_status_s"] = time.perf_counter() - began
            bridge: OcppCpBridge = entry.runtime_data
            tap = await install_tap(csms)
            await settle(hass, bridge)
            errors.records.clear()

            began = time.perf_counter()
            status = await measure_status(
                hass, bridge, csms, tap, sizes.status_warmup, sizes.status_n
            )
            timings["status_row_s"] = time.perf_counter() - began
            began = time.perf_counter()
            starts, stops = await measure_remote(
                hass, bridge, csms, tap, switch, sizes.remote_warmup, sizes.remote_pairs
            )
            timings["remote_rows_s"] = time.perf_counter() - began
            raise_if_logged(errors)
            info["frames_at_csms"] = dict(sorted(tap.calls_in.items()))
    finally:
        loop.set_exception_handler(default_handler)
    if loop_errors:
        raise BenchmarkError(f"exceptions in the event loop: {loop_errors[:3]}")
    info["timings_s"] = timings
    rows = [
        make_row("status", "1. plug state change -> StatusNotification at CSMS", status),
        make_row("remote_start", "2. RemoteStartTransaction -> switch.turn_on", starts),
        make_row("remote_stop", "3. RemoteStopTransaction -> switch.turn_off", stops),
    ]
    return rows, info


def render(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [
        f"ocpp_cp HA bridge benchmark -- {meta['mode']} run, Home Assistant "
        f"{meta['homeassistant']}, python {meta['python']}, ocpp {meta['ocpp']}, "
        f"websockets {meta['websockets']}, {meta['cpus']} CPUs",
        f"CSMS: {meta['csms']}",
        "",
    ]
    width = max(len(row.label) for row in rows) + 2
    header = f"{'':<{width}}{'N':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}   target p50"
    lines += [header, "-" * len(header)]
    for row in rows:
        verdict = "met" if row.p50_ms < TARGET_P50_MS else "MISSED"
        lines.append(
            f"{row.label:<{width}}{row.n:>6}{row.p50_ms:>10.3f}{row.p99_ms:>10.3f}"
            f"{row.max_ms:>10.3f}   < {TARGET_P50_MS:g} ms {verdict}"
        )
    lines += [
        "",
        "1: from before hass.states.async_set() to the CSMS's recv() returning the frame.",
        "2, 3: from right before the CSMS's send() of the command to the switch service",
        "      handler running. Every sample starts with the charge point idle.",
        f"run time: {meta['run_time_s']:.1f} s",
    ]
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N, a smoke run (< 20 s)")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write figures as JSON")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # "We found a custom integration ... which has not been tested by Home Assistant"
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)

    sizes = QUICK if args.quick else FULL
    from homeassistant.const import __version__ as ha_version

    rows, info = run_on_home_assistant_loop(
        lambda config_dir: measure(sizes, config_dir), "ocpp_cp_bridge_bench_", RUN_TIMEOUT
    )
    meta: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "homeassistant": ha_version,
        "python": platform.python_version(),
        "ocpp": metadata.version("ocpp"),
        "websockets": metadata.version("websockets"),
        "pytest_homeassistant_custom_component": metadata.version(
            "pytest-homeassistant-custom-component"
        ),
        "cpus": os.cpu_count(),
        "csms": "tests.csms.TestCsms on 127.0.0.1, same process and event loop as Home "
        "Assistant; time.perf_counter() stamps at the CSMS's websocket recv()/send()",
        "sizes": dataclasses.asdict(sizes),
        "run_time_s": time.perf_counter() - started,
        **info,
    }
    print(render(rows, meta))
    if args.json is not None:
        document = {
            "meta": meta,
            "rows": [dataclasses.asdict(row) for row in rows],
            "target": {"p50_ms_below": TARGET_P50_MS},
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
