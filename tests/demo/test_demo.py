"""`make demo` end to end: the real scripts/demo.sh with its CSMS, Home Assistant and demo charger.

Sessions are started the three ways the demo offers (an ocpp_cp action in Home Assistant, the
charging switch flipped by hand, the CSMS after the car is plugged in) and checked in the CSMS's
frame log; Ctrl-C must leave nothing running. Reruns reuse the folder; CSMS_URL points the same
demo at another CSMS.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.demo.demo_run import (
    READY_TIMEOUT,
    REPO,
    DemoRun,
    answer,
    calls,
    command_line,
    energy_wh,
    free_port,
    proc_table,
)

PLUG = "switch.demo_car_plugged_in"
CHARGING = "switch.demo_charger_charging"
STEP = 30.0  # seconds for each OCPP step (meter values come every 2 s)


def statuses(run: DemoRun) -> list[str]:
    return [p["status"] for p in calls(run.frames(), "StatusNotification") if p["connectorId"] == 1]


def wait_status(run: DemoRun, status: str, after: int) -> int:
    """Wait until connector 1 reports ``status`` in a StatusNotification after the first
    ``after`` ones; returns how many there are then."""

    def seen() -> int | None:
        sent = statuses(run)
        return len(sent) if status in sent[after:] else None

    return run.wait(seen, STEP, f"StatusNotification {status} (after {statuses(run)[:after]})")


def wait_transaction(run: DemoRun, starts_before: int) -> int:
    """The id the CSMS gave the next StartTransaction."""

    def started() -> int | None:
        records = run.frames()
        if len(list(calls(records, "StartTransaction"))) <= starts_before:
            return None
        result = answer(records, "StartTransaction")
        return None if result is None else int(result["transactionId"])

    return run.wait(started, STEP, "StartTransaction and its answer")


def wait_rising_energy(run: DemoRun, transaction_id: int) -> list[float]:
    def rising() -> list[float] | None:
        readings = [
            value
            for payload in calls(run.frames(), "MeterValues")
            if payload.get("transactionId") == transaction_id
            for value in energy_wh(payload)
        ]
        if len(readings) >= 3 and readings == sorted(readings) and readings[-1] > readings[0]:
            return readings
        return None

    return run.wait(rising, STEP, f"MeterValues with rising energy in transaction {transaction_id}")


def wait_stop(run: DemoRun, transaction_id: int) -> dict[str, Any]:
    def stopped() -> dict[str, Any] | None:
        for payload in calls(run.frames(), "StopTransaction"):
            if payload["transactionId"] == transaction_id:
                return payload
        return None

    return run.wait(stopped, STEP, f"StopTransaction of {transaction_id}")


def unplug(run: DemoRun) -> None:
    seen = len(statuses(run))
    run.call("switch", "turn_off", entity_id=PLUG)
    wait_status(run, "Available", seen)


@pytest.mark.timeout(420)
def test_demo_sessions_three_ways_then_ctrl_c(demo_factory: Callable[..., DemoRun]) -> None:
    run = demo_factory().start()
    ready = run.wait_ready()
    assert ready["entry_id"], "the demo sets up ocpp_cp"
    parts = run.remember_processes()
    assert any("csms.py" in line for line in parts.values()), parts
    assert any("run_hass.py" in line for line in parts.values()), parts
    # The charge point booted and said its connector is free.
    run.wait(lambda: answer(run.frames(), "BootNotification"), STEP, "BootNotification")
    assert answer(run.frames(), "BootNotification")["status"] == "Accepted"
    wait_status(run, "Available", 0)
    run.wait(lambda: answer(run.frames(), "ChangeConfiguration"), STEP, "the CSMS's configuration")

    # 1. From Home Assistant: plug the car in, then the action ocpp_cp.start_transaction.
    seen = len(statuses(run))
    run.call("switch", "turn_on", entity_id=PLUG)
    seen = wait_status(run, "Preparing", seen)
    starts = len(list(calls(run.frames(), "StartTransaction")))
    run.call("ocpp_cp", "start_transaction", config_entry_id=run.entry_id)
    tx = wait_transaction(run, starts)
    wait_status(run, "Charging", seen)
    readings = wait_rising_energy(run, tx)
    assert run.state_of(CHARGING) == "on"
    assert float(run.state_of("sensor.demo_charger_power")) > 1000
    # The charger's own 16 A stays: the limit in force is never above the installation's.
    assert float(run.state_of("number.demo_charger_current_limit")) == 16
    seen = len(statuses(run))
    run.call("ocpp_cp", "stop_transaction", config_entry_id=run.entry_id)
    stop = wait_stop(run, tx)
    assert stop["reason"] == "Local"
    assert stop["meterStop"] >= int(readings[-1])  # meterStop is whole Wh
    wait_status(run, "Finishing", seen)
    run.wait(lambda: run.state_of(CHARGING) == "off", STEP, "the charging switch to turn off")
    unplug(run)

    # 2. The charging switch flipped by hand (the demo's automation starts a session).
    seen = len(statuses(run))
    run.call("switch", "turn_on", entity_id=PLUG)
    seen = wait_status(run, "Preparing", seen)
    starts = len(list(calls(run.frames(), "StartTransaction")))
    run.call("switch", "turn_on", entity_id=CHARGING)
    tx = wait_transaction(run, starts)
    wait_rising_energy(run, tx)
    run.call("switch", "turn_off", entity_id=CHARGING)
    assert wait_stop(run, tx)["reason"] == "Local"
    unplug(run)

    # 3. Just plugging in: the CSMS sends RemoteStartTransaction after 1 s in Preparing.
    assert run.control("autostart 1")["ok"]
    remote_starts = len(list(calls(run.frames(), "RemoteStartTransaction")))
    starts = len(list(calls(run.frames(), "StartTransaction")))
    seen = len(statuses(run))
    run.call("switch", "turn_on", entity_id=PLUG)
    wait_status(run, "Preparing", seen)
    tx = wait_transaction(run, starts)
    assert len(list(calls(run.frames(), "RemoteStartTransaction"))) == remote_starts + 1
    wait_status(run, "Charging", seen)
    wait_rising_energy(run, tx)
    # ... and the CSMS stops it (RemoteStopTransaction, as typing "stop" in the terminal).
    assert run.control("stop")["ok"]
    assert wait_stop(run, tx)["reason"] == "Remote"
    unplug(run)

    # Ctrl-C: everything stops, nothing is left behind.
    took = run.interrupt(signal.SIGINT)
    assert run.process is not None
    assert run.process.returncode == 0  # a clean stop: make prints no "Error 130"
    assert took < 60
    assert "[demo] stopped" in run.output.read_text()


@pytest.mark.timeout(420)
def test_rerun_and_own_csms(demo_factory: Callable[..., DemoRun], tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = demo_factory(state).start()
    entry_id = first.wait_ready()["entry_id"]
    first.interrupt(signal.SIGTERM)
    assert (state / "token").exists()

    # The same folder again: the owner, the token and the entry are reused.
    second = demo_factory(state, http_port=first.http_port, csms_port=first.csms_port).start()
    assert second.wait_ready()["entry_id"] == entry_id
    second.wait(
        lambda: len(list(calls(second.frames(), "BootNotification"))) >= 3,  # probe + 2 runs
        STEP,
        "the rerun's BootNotification",
    )
    assert "ocpp_cp is set up already" in second.output.read_text()
    second.interrupt(signal.SIGINT)

    # CSMS_URL: the user's own CSMS (here another demo CSMS the test runs); no local CSMS.
    port = free_port()
    own_log = tmp_path / "own-csms.jsonl"
    own = subprocess.Popen(
        [sys.executable, "example/demo/csms.py", "--port", str(port), "--log-file", str(own_log)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        third = demo_factory(state, CSMS_URL=f"ws://127.0.0.1:{port}/ocpp", CP_ID="MYCP").start()
        new_entry = third.wait_ready()["entry_id"]
        assert new_entry != entry_id, "the entry for the local CSMS is replaced"
        parts = third.remember_processes()
        assert not any("csms.py" in line for line in parts.values()), parts
        entries = third.api("GET", "/api/config/config_entries/entry?domain=ocpp_cp")
        assert [(e["entry_id"], e["title"]) for e in entries] == [(new_entry, "MYCP")]
        third.wait(
            lambda: any(
                record.get("charge_point") == "MYCP"
                for record in third.frames(own_log)
                if record.get("direction") == "cp->csms"
            ),
            STEP,
            "MYCP at the user's CSMS",
        )
        assert answer(third.frames(own_log), "BootNotification")["status"] == "Accepted"
        third.interrupt(signal.SIGINT)
    finally:
        own.terminate()
        own.wait(10)


@pytest.mark.timeout(300)
def test_make_demo_in_a_terminal(tmp_path: Path) -> None:
    """`make demo` in a terminal: commands typed there reach the CSMS; Ctrl-C (the terminal
    sends SIGINT to the whole foreground group: make and bash) stops every part."""
    env = {
        **os.environ,
        "DEMO_STATE_DIR": str(tmp_path / "demo"),
        "DEMO_HTTP_PORT": str(free_port()),
        "DEMO_CSMS_PORT": str(free_port()),
        "DEMO_VENV": sys.prefix,
    }
    # make in a new session whose controlling terminal is a fresh pty (setsid --ctty), so that
    # Ctrl-C goes where a real terminal sends it: make's foreground process group.
    fd, terminal = os.openpty()
    make = subprocess.Popen(
        ["setsid", "--ctty", "make", "--no-print-directory", "demo"],
        cwd=REPO,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    pid = make.pid
    screen = Terminal(fd)
    sessions: set[int] = set()
    try:
        screen.expect("Ctrl-C stops everything", 180)
        table = proc_table()
        sessions = {info[2] for p, info in table.items() if info[2] != pid and _descends(p, pid)}
        assert len(sessions) == 2, "the CSMS and Home Assistant, each in its own session"
        screen.type("get HeartbeatInterval\n")
        screen.expect("'key': 'HeartbeatInterval'", 30)
        screen.type("\x03")  # Ctrl-C
        screen.expect("[demo] stopped", 90)
        assert make.wait(30) != 0  # make dies of the SIGINT itself...
        screen.drain(5)
        assert "Error 130" not in screen.text  # ...but a clean stop is no failed recipe
        left = [p for p, info in proc_table().items() if info[2] in sessions | {pid}]
        assert not left, {p: command_line(p) for p in left}
    finally:
        for session in sessions | {pid}:
            with contextlib.suppress(OSError):
                os.killpg(session, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            make.wait(10)
        os.close(fd)


def _descends(pid: int, ancestor: int) -> bool:
    table = proc_table()
    while pid in table and pid > 1:
        if pid == ancestor:
            return True
        pid = table[pid][0]
    return False


class Terminal:
    """The master side of a pty, read with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def drain(self, timeout: float) -> None:
        """Read what is left until every writer closed the terminal (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.text += chunk.decode(errors="replace")

    def expect(self, wanted: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while wanted not in self.text:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {wanted!r} within {timeout} s:\n{self.text[-3000:]}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the terminal closed: every process on it exited
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before {wanted!r}:\n{self.text[-3000:]}")
                self.text += chunk.decode(errors="replace")


STAND_IN = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.demo.demo_run import DemoRun
run = DemoRun(Path(sys.argv[2]), DEMO_VENV=sys.prefix).start()
print(run.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.timeout(300)
def test_a_killed_test_run_takes_the_demo_with_it(tmp_path: Path) -> None:
    """A test run SIGKILLed from outside (no fixture teardown, no trap) leaves no demo part
    running: demo.sh dies with the test process, and its parts with demo.sh."""
    state = tmp_path / "demo"
    stand_in = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, str(REPO), str(state)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert stand_in.stdout is not None
    demo_pid = int(stand_in.stdout.readline())
    parts: dict[int, tuple[int, int, int]] = {}
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not (state / "ready.json").exists():
            assert time.monotonic() < deadline, "the demo never got ready"
            time.sleep(0.5)
        table = proc_table()
        parts = {p: info for p, info in table.items() if _descends(p, demo_pid)}
        assert any("run_hass.py" in command_line(p) for p in parts), parts
        stand_in.kill()  # as a CI timeout or an OOM killer would kill pytest
        stand_in.wait(10)
        deadline = time.monotonic() + 60  # Home Assistant stops on SIGTERM within seconds
        while (alive := [p for p in [demo_pid, *parts] if p in proc_table()]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.2)
        assert not alive, {p: command_line(p) for p in alive}
    finally:
        for pid in [demo_pid, *parts]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            stand_in.kill()
