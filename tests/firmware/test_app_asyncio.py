"""The asyncio side of the firmware application under CPython: the safety loop, the 1 s
housekeeping task, the Modbus meter task and the network worker as a task (MicroPython's
WebAssembly build has no asyncio.run, so these run here only; the logic they drive is in
tests/firmware/mp and runs under both interpreters)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evse import modbus
from evse.app import App
from evse.compat import ticks_ms
from evse.net import Net
from fwsim import Broker, FakeHardware, FakeMQTT, FakeWlan, config


def reply(values: list[float]) -> bytes:
    data = b"".join(struct.pack(">f", v) for v in values)
    body = bytes([1, 4, len(data)]) + data
    crc = modbus.crc16(body)
    return body + bytes([crc & 0xFF, crc >> 8])


async def run_until(
    app: App, done: Callable[[], object], net: Net | None = None, timeout: float = 15
) -> None:
    """Run the app until ``done()`` (not for a fixed time: a loaded machine runs fewer passes)."""
    task = asyncio.create_task(app.run(net, threaded=False))
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_safety_loop_ticks_starts_watchdog_and_ends_safe() -> None:
    cfg = config()
    hw = FakeHardware()
    app = App(cfg, hw, ticks_ms())
    broker = Broker()
    net = Net(app, cfg, FakeWlan(), lambda: FakeMQTT(broker))
    await run_until(app, lambda: app.ticks >= 15 and "ocpp_cp/evse1/state" in broker.retained, net)
    assert app.ticks >= 15
    assert hw.feeds == app.ticks
    assert hw.wdt_ms == cfg["wdt_ms"]
    assert hw.safe_calls == 1  # cancellation leaves the outputs safe
    assert broker.connects == 1
    assert "ocpp_cp/evse1/state" in broker.retained
    assert app.tick_us_max > 0


async def test_exception_in_the_safety_loop_makes_outputs_safe() -> None:
    hw = FakeHardware()
    app = App(config(), hw, ticks_ms())

    def broken(inp: object) -> None:
        raise RuntimeError("ADC gone")

    hw.read = broken
    with pytest.raises(RuntimeError, match="ADC gone"):
        await app.run(None, threaded=False)
    assert hw.safe_calls == 1
    assert hw.feeds == 0


async def test_meter_task_reads_sdm630() -> None:
    cfg = config(meter={"type": "sdm630"}, pins={"uart_tx": 17, "uart_rx": 16})
    hw = FakeHardware()
    hw.replies = [
        reply([230.0, 231.0, 229.0, 10.0, 11.5, 12.0]),
        reply([7600.0]),
        reply([42.0]),
    ]
    app = App(cfg, hw, ticks_ms())
    await run_until(app, lambda: app.meter)  # a complete reading
    assert hw.sent[0] == modbus.request(1, 0, 12)
    assert hw.sent[1] == modbus.request(1, 0x34, 2)
    assert app.meter["p"] == 7600.0
    assert app.meter["wh"] == 42000
    assert app.amps_da == 120


class _TimedHardware(FakeHardware):
    """Records (monotonic time, contactor, pending) at every pass."""

    def __init__(self) -> None:
        super().__init__()
        self.passes: list[tuple[float, bool, bool]] = []
        self.evse: Any = None

    def write(self, duty: int, contactor: bool, rcd_test: bool) -> None:
        super().write(duty, contactor, rcd_test)
        self.t += 1  # a few ms of simulated car time per pass is plenty here
        self.passes.append((time.monotonic(), contactor, bool(self.evse.pending)))


async def test_a_sample_to_confirm_gets_an_extra_pass() -> None:
    """With a 50 ms tick, the pass after a new pilot sample comes RECHECK_MS later, not a
    tick later, and the contactor opens on it; the regular schedule goes on."""
    hw = _TimedHardware()
    app = App(config(tick_ms=50), hw, ticks_ms())
    hw.evse = app.evse
    hw.car.state = "B"
    task = asyncio.create_task(app.run(None, threaded=False))
    try:
        await asyncio.sleep(0.3)
        hw.car.state = "C"
        async with asyncio.timeout(10):
            while not hw.contactor:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        hw.car.state = "B"
        async with asyncio.timeout(10):
            while hw.contactor:
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    opened = next(
        i for i in range(1, len(hw.passes)) if hw.passes[i - 1][1] and not hw.passes[i][1]
    )
    t_pending, _, pending = hw.passes[opened - 1]
    assert pending  # the first sample of B: waiting for its confirmation ...
    assert hw.passes[opened][0] - t_pending < 0.035  # ... which came well before the tick
    gaps = [
        b[0] - a[0] for a, b in zip(hw.passes[opened + 1 :], hw.passes[opened + 2 :], strict=False)
    ]
    # Then the 50 ms schedule again, not more 4 ms rechecks. The median, not the minimum: the
    # schedule keeps its deadlines, so one pass a loaded machine delays is followed by a short gap.
    assert statistics.median(gaps) > 0.03, gaps
    assert statistics.mean(gaps) > 0.04, gaps


class _FakeNetwork:
    STA_IF = 0

    class WLAN:
        def __init__(self, _iface: int) -> None:
            self.on = False

        def active(self, on: bool) -> None:
            self.on = on


class _FakeUmqtt:
    MQTTClient = FakeMQTT


@pytest.fixture
def device(tmp_path, monkeypatch):
    """A fake board: `machine`, `network`, `umqtt.simple` and the working directory."""
    import fake_machine

    fake_machine.reset_all()
    fake_machine.ADC.SOURCES[36] = lambda: 0
    monkeypatch.setitem(sys.modules, "machine", fake_machine)
    monkeypatch.setitem(sys.modules, "network", _FakeNetwork)
    monkeypatch.setitem(sys.modules, "umqtt", _FakeUmqtt)
    monkeypatch.setitem(sys.modules, "umqtt.simple", _FakeUmqtt)
    monkeypatch.delitem(sys.modules, "evse.hardware", raising=False)
    monkeypatch.chdir(tmp_path)
    yield fake_machine
    sys.modules.pop("evse.hardware", None)


def write_config(path: Path, **over: object) -> None:
    data = {
        "node_id": "evse1",
        "wifi": {"ssid": "home"},
        "mqtt": {"host": "192.168.1.10"},
        "pins": {"pilot_pwm": 27, "pilot_adc": 36, "contactor": 26, "rcd": 35},
    }
    data.update(over)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_main_refuses_bad_config_without_touching_outputs(device, tmp_path, capsys) -> None:
    from evse import app as app_mod

    write_config(tmp_path / "config.json", tick_ms=500)
    app_mod.main()
    assert "tick_ms must be an integer from 5 to 50" in capsys.readouterr().out
    assert device.PINS == {}  # no GPIO configured: the contactor stays off by its pull-down


def test_main_nostart_file(device, tmp_path, capsys) -> None:
    from evse import app as app_mod

    write_config(tmp_path / "config.json")
    (tmp_path / "nostart").write_text("", encoding="utf-8")
    app_mod.main()
    assert "remove the file 'nostart'" in capsys.readouterr().out
    assert device.PINS == {}


def test_main_leaves_outputs_safe_when_the_app_fails(device, tmp_path, monkeypatch) -> None:
    from evse import app as app_mod

    write_config(tmp_path / "config.json")

    def failing_run(coro):
        coro.close()
        device.PINS[26].value(1)  # as if the contactor had been closed
        raise RuntimeError("boom")

    monkeypatch.setattr(app_mod.asyncio, "run", failing_run)
    with pytest.raises(RuntimeError, match="boom"):
        app_mod.main()
    assert device.PINS[26].level == 0
    assert (tmp_path / "persist.json").exists()  # the store (file fallback) was created
    assert "evse.config" not in sys.modules  # used at boot only: unloaded (heap)
