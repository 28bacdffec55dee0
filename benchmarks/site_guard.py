"""Site fuse guard benchmark: grid sensor change -> limit written, inside a running Home Assistant.

Run:  $(bash scripts/venv.sh)/bin/python benchmarks/site_guard.py [--quick] [--json FILE]

Home Assistant is started the way ``benchmarks/bridge.py`` does it (``async_test_home_assistant``
from pytest-homeassistant-custom-component, custom integrations enabled, a temporary config
directory), with a real ``ocpp_cp`` config entry connected to a real CSMS on 127.0.0.1
(``tests.csms.TestCsms``) and the site fuse guard switched on in its options: three grid
current sensors, 25 A main fuse, 1 A margin. A session runs on connector 1 (car plugged in,
started through the ``ocpp_cp.start_transaction`` service), so every limit the guard decides
is written to the mapped number entity.

Two rows, p50 / p99 / max in ms, from the same run:

1. baseline: ``hass.states.async_set("sensor.bench_probe", ...)`` -> a listener registered
   with ``async_track_state_change_event`` on that entity running. What any reaction to a
   sensor inside Home Assistant costs at least.
2. guard: ``hass.states.async_set("sensor.grid_l1", "13")`` (the house load on L1 rises by
   8 A) -> the ``number.set_value`` handler receiving the lowered limit (19 A -> 11 A). Each
   sample is checked: exactly one write, of 11 A, to the mapped number entity. Between samples
   the load falls back to 5 A and the guard raises the limit again to 19 A (increase interval
   1 ms here, so that this reset is quick; it is not measured), then everything settles.

Every stamp is ``time.perf_counter()`` in this process; the service handlers are
``@callback`` handlers registered with ``hass.services.async_register``. An error logged or an
unexpected write aborts the run with ``BenchmarkError``.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent))
import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge import (
    NUMBER,
    PLUG,
    BenchmarkError,
    Row,
    entry_for,
    home_assistant_with_csms,
    make_row,
    raise_if_logged,
    run_on_home_assistant_loop,
    set_source_states,
    settle,
    wait_until,
    within,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant, ServiceCall

    from custom_components.ocpp_cp.bridge import OcppCpBridge

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 600.0
GRID = ("sensor.grid_l1", "sensor.grid_l2", "sensor.grid_l3")
PROBE = "sensor.bench_probe"
AMPS = {"unit_of_measurement": "A", "device_class": "current"}
LOW_LOAD, HIGH_LOAD = 5.0, 13.0  # A on L1: limits 19 A and 11 A (25 A fuse, 1 A margin)
HIGH_LIMIT, LOW_LIMIT = 19.0, 11.0
GUARD = {
    "enabled": True,
    "grid_current_l1": GRID[0],
    "grid_current_l2": GRID[1],
    "grid_current_l3": GRID[2],
    "grid_voltage": 230.0,
    "fuse_current": 25.0,
    "safety_margin": 1.0,
    "reaction_time": 2.0,
    "increase_interval": 0.001,
    "fallback_current": 6.0,
    "stale_timeout": 3600.0,
}


@dataclass(frozen=True, slots=True)
class Sizes:
    n: int = 500
    warmup: int = 50


FULL = Sizes()
QUICK = Sizes(n=100, warmup=10)


class Writes:
    """The ``number.set_value`` handler: stamps and checks every limit written."""

    def __init__(self, hass: HomeAssistant) -> None:
        from homeassistant.core import callback

        self.values: list[tuple[float, str, float]] = []
        self._waiter: tuple[float, asyncio.Future[float]] | None = None

        @callback
        def handle(service_call: ServiceCall) -> None:
            at = time.perf_counter()
            value = float(service_call.data["value"])
            self.values.append((at, str(service_call.data["entity_id"]), value))
            if self._waiter is not None and self._waiter[0] == value:
                future = self._waiter[1]
                self._waiter = None
                if not future.done():
                    future.set_result(at)

        hass.services.async_register("number", "set_value", handle)

    def expect(self, value: float) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiter = (value, future)
        return future


def grid(hass: HomeAssistant, l1: float) -> None:
    hass.states.async_set(GRID[0], str(l1), AMPS)


async def measure_baseline(hass: HomeAssistant, sizes: Sizes) -> list[float]:
    from homeassistant.core import Event, EventStateChangedData, callback
    from homeassistant.helpers.event import async_track_state_change_event

    waiter: list[asyncio.Future[float]] = []

    @callback
    def heard(event: Event[EventStateChangedData]) -> None:
        if waiter and not waiter[0].done():
            waiter[0].set_result(time.perf_counter())

    unsubscribe = async_track_state_change_event(hass, [PROBE], heard)
    samples: list[float] = []
    try:
        gc.collect()
        for index in range(sizes.warmup + sizes.n):
            waiter[:] = [asyncio.get_running_loop().create_future()]
            started = time.perf_counter()
            hass.states.async_set(PROBE, str(index), AMPS)
            at = await within(waiter[0], f"state_changed listener {index}")
            if index >= sizes.warmup:
                samples.append(at - started)
            await hass.async_block_till_done()
    finally:
        unsubscribe()
    return samples


async def measure_guard(
    hass: HomeAssistant, bridge: OcppCpBridge, writes: Writes, sizes: Sizes
) -> list[float]:
    samples: list[float] = []
    gc.collect()
    for index in range(sizes.warmup + sizes.n):
        # reset (not measured): the load falls, the guard raises the limit after 1 ms
        grid(hass, LOW_LOAD)
        await wait_until(
            lambda: bool(writes.values) and writes.values[-1][2] == HIGH_LIMIT,
            f"limit {HIGH_LIMIT} A before sample {index}",
        )
        await settle(hass, bridge)
        before = len(writes.values)
        lowered = writes.expect(LOW_LIMIT)
        started = time.perf_counter()
        grid(hass, HIGH_LOAD)
        at = await within(lowered, f"limit {LOW_LIMIT} A after the load step {index}")
        await settle(hass, bridge)
        new = writes.values[before:]
        if [(entity, value) for _, entity, value in new] != [(NUMBER, LOW_LIMIT)]:
            raise BenchmarkError(f"sample {index}: expected one write of {LOW_LIMIT} A, got {new}")
        if index >= sizes.warmup:
            samples.append(at - started)
    return samples


async def measure(sizes: Sizes, config_dir: str) -> tuple[list[Row], dict[str, Any]]:
    from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

    info: dict[str, Any] = {}
    async with home_assistant_with_csms(config_dir) as (hass, csms, errors):
        from custom_components.ocpp_cp.const import DOMAIN  # importable once inside

        writes = Writes(hass)
        async_mock_service(hass, "switch", "turn_on")
        async_mock_service(hass, "switch", "turn_off")
        set_source_states(hass)
        for entity_id in GRID:
            hass.states.async_set(entity_id, str(LOW_LOAD), AMPS)
        base = entry_for(csms)
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=base.title,
            unique_id=base.unique_id,
            data=dict(base.data),
            options={**base.options, "site_guard": GUARD},
        )
        entry.add_to_hass(hass)
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise BenchmarkError("the config entry did not set up")
        await hass.async_block_till_done()
        await within(
            csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1),
            "StatusNotification of connector 1 after set-up",
        )
        bridge: OcppCpBridge = entry.runtime_data
        hass.states.async_set(PLUG, "on")
        await hass.services.async_call(
            DOMAIN, "start_transaction", {"config_entry_id": entry.entry_id}, blocking=True
        )
        await within(csms.wait_for("StartTransaction"), "StartTransaction")
        for entity_id in GRID:  # fresh readings: the guard leaves the fallback
            hass.states.async_set(entity_id, str(LOW_LOAD), AMPS)  # reported
        await settle(hass, bridge)
        errors.records.clear()
        began = time.perf_counter()
        baseline = await measure_baseline(hass, sizes)
        guard = await measure_guard(hass, bridge, writes, sizes)
        info["measure_s"] = time.perf_counter() - began
        raise_if_logged(errors)
        info["limit_source"] = bridge.engine.limit_in_force(1).source.kind
    rows = [
        make_row("baseline", "1. async_set -> state_changed listener (baseline)", baseline),
        make_row("guard", "2. grid sensor async_set -> number.set_value (guard)", guard),
    ]
    return rows, info


def render(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [
        f"ocpp_cp site guard benchmark -- {meta['mode']} run, Home Assistant "
        f"{meta['homeassistant']}, python {meta['python']}, {meta['cpus']} CPUs",
        "",
    ]
    width = max(len(row.label) for row in rows) + 2
    header = f"{'':<{width}}{'N':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    lines += [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.label:<{width}}{row.n:>6}{row.p50_ms:>10.3f}{row.p99_ms:>10.3f}"
            f"{row.max_ms:>10.3f}"
        )
    guard, baseline = rows[1], rows[0]
    lines += [
        "",
        f"guard p50 - baseline p50: {guard.p50_ms - baseline.p50_ms:.3f} ms "
        "(the guard, the engine's limit service and the service call)",
        f"run time: {meta['run_time_s']:.1f} s",
    ]
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller N, a smoke run")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
    sizes = QUICK if args.quick else FULL
    from homeassistant.const import __version__ as ha_version

    rows, info = run_on_home_assistant_loop(
        lambda config_dir: measure(sizes, config_dir), "ocpp_cp_guard_bench_", RUN_TIMEOUT
    )
    meta: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "homeassistant": ha_version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "sizes": dataclasses.asdict(sizes),
        "run_time_s": time.perf_counter() - started,
        **info,
    }
    print(render(rows, meta))
    if args.json is not None:
        document = {"meta": meta, "rows": [dataclasses.asdict(row) for row in rows]}
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
