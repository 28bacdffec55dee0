"""Runs scripts/demo.sh as a subprocess (the real thing: CSMS, Home Assistant, demo charger).

Used by the demo tests and the browser test. Every wait is bounded; a failure message carries the
tail of the demo's output and of Home Assistant's log.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

READY_TIMEOUT = 180.0  # a cold Home Assistant start here takes about 5 s; slow CI machines more
STOP_TIMEOUT = 90.0  # demo.sh gives each part 30 s before SIGKILL


def free_port() -> int:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, process group, session) of every live (non-zombie) process."""
    table: dict[int, tuple[int, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies, however it dies (demo.sh
    then takes its parts with it through their own parent-death signal)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class DemoRun:
    """One `make demo` in its own process group, with helpers to drive and watch it."""

    def __init__(
        self,
        state_dir: Path,
        *,
        http_port: int | None = None,
        csms_port: int | None = None,
        **env: str,
    ) -> None:
        self.state = state_dir
        self.http_port = http_port or free_port()
        self.csms_port = csms_port or free_port()
        self.env = {
            **os.environ,
            "DEMO_STATE_DIR": str(state_dir),
            "DEMO_HTTP_PORT": str(self.http_port),
            "DEMO_CSMS_PORT": str(self.csms_port),
            "DEMO_VENV": sys.prefix,
            "DEMO_AUTOSTART": "0",
            "DEMO_METER_INTERVAL": "2",
            **env,
        }
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.output = state_dir.parent / f"{state_dir.name}-demo-output.txt"
        self.process: subprocess.Popen[bytes] | None = None
        self.sessions: set[int] = set()  # session ids of the demo's parts (they run setsid)
        self.token = ""
        self.entry_id: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> DemoRun:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "ready.json").unlink(missing_ok=True)  # a previous run's
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                ["bash", "scripts/demo.sh"],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, no locks
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def descendants(self) -> dict[int, tuple[int, int, int]]:
        table = proc_table()
        found: dict[int, tuple[int, int, int]] = {}
        frontier = [self.pid]
        while frontier:
            parent = frontier.pop()
            for pid, info in table.items():
                if info[0] == parent and pid not in found:
                    found[pid] = info
                    frontier.append(pid)
        return found

    def remember_processes(self) -> dict[int, str]:
        """Note the session of every part now running; returns pid -> command line."""
        parts = self.descendants()
        self.sessions.update(info[2] for info in parts.values())
        return {pid: command_line(pid) for pid in parts}

    def leftovers(self) -> dict[int, str]:
        """Processes still alive in the demo's process group or in one of its parts' sessions."""
        return {
            pid: command_line(pid)
            for pid, (_, group, session) in proc_table().items()
            if group == self.pid or session in self.sessions or session == self.pid
        }

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
        ready_file = self.state / "ready.json"

        def ready() -> dict[str, Any] | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"demo.sh exited with {self.process.returncode} before it was ready\n"
                    + self.diagnostics()
                )
            if not ready_file.exists():
                return None
            try:
                data: dict[str, Any] = json.loads(ready_file.read_text())
            except ValueError:
                return None  # being written
            return data

        info = self.wait(ready, timeout, "the demo to be ready")
        self.token = Path(info["token_file"]).read_text().strip()
        self.entry_id = info["entry_id"]
        self.remember_processes()
        return info

    def interrupt(self, sig: int = signal.SIGINT, timeout: float = STOP_TIMEOUT) -> float:
        """Ctrl-C (to demo.sh only, not its group: it must stop its parts itself); returns
        how long stopping took."""
        assert self.process is not None
        self.remember_processes()
        started = time.monotonic()
        os.kill(self.pid, sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"demo.sh still runs {timeout} s after signal {sig}\n" + self.diagnostics()
            ) from None
        took = time.monotonic() - started
        deadline = time.monotonic() + 5  # the kernel may take a moment to reap
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"processes left running after demo.sh exited: {left}"
        return took

    def kill(self) -> None:
        """Last-resort cleanup after a failed test: SIGKILL every group of the demo."""
        if self.process is None:
            return
        self.remember_processes()
        groups = {self.pid} | {
            group for _, group, session in proc_table().values() if session in self.sessions
        }
        for group in groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def diagnostics(self) -> str:
        def tail(path: Path, lines: int = 40) -> str:
            try:
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            except OSError:
                return "(none)"

        return (
            f"--- demo output ({self.output}) ---\n{tail(self.output)}\n"
            f"--- Home Assistant log ({self.state / 'ha.log'}) ---\n{tail(self.state / 'ha.log')}"
        )

    # -- waiting --------------------------------------------------------------------------------

    def wait(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result is not None and result is not False:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"gave up after {timeout} s waiting for {what}\n" + self.diagnostics()
                )
            time.sleep(0.25)

    # -- Home Assistant -------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {path}: HTTP {err.code} {err.read()!r}") from None
        return json.loads(raw) if raw else None

    def call(self, domain: str, service: str, **data: Any) -> Any:
        return self.api("POST", f"/api/services/{domain}/{service}", data)

    def state_of(self, entity_id: str) -> str:
        return str(self.api("GET", f"/api/states/{entity_id}")["state"])

    # -- the demo CSMS --------------------------------------------------------------------------

    def control(self, command: str, port: int | None = None) -> dict[str, Any]:
        query = urllib.parse.urlencode({"cmd": command})
        url = f"http://127.0.0.1:{port or self.csms_port}/control?{query}"
        with urllib.request.urlopen(url, timeout=60) as response:
            result: dict[str, Any] = json.loads(response.read())
        return result

    def frames(self, log_file: Path | None = None) -> list[dict[str, Any]]:
        path = log_file or self.state / "csms.jsonl"
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            with contextlib.suppress(ValueError):  # a line being written
                records.append(json.loads(line))
        return records


def calls(records: list[dict[str, Any]], action: str) -> Iterator[dict[str, Any]]:
    """Payloads of the CALLs of ``action`` in a frame log, in order (either direction)."""
    for record in records:
        frame = record.get("frame")
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2 and frame[2] == action:
            yield frame[3]


def answer(records: list[dict[str, Any]], action: str, index: int = -1) -> dict[str, Any] | None:
    """The CALLRESULT payload answering the ``index``-th CALL of ``action``."""
    ids = [
        record["frame"][1]
        for record in records
        if isinstance(record.get("frame"), list)
        and record["frame"][0] == 2
        and record["frame"][2] == action
    ]
    if not ids:
        return None
    wanted = ids[index]
    for record in records:
        frame = record.get("frame")
        if isinstance(frame, list) and frame[0] == 3 and frame[1] == wanted:
            result: dict[str, Any] = frame[2]
            return result
    return None


def energy_wh(meter_values: dict[str, Any]) -> list[float]:
    """Energy.Active.Import.Register readings of one MeterValues payload, in Wh."""
    readings = []
    for meter_value in meter_values["meterValue"]:
        for sampled in meter_value["sampledValue"]:
            if sampled.get("measurand", "Energy.Active.Import.Register") != (
                "Energy.Active.Import.Register"
            ):
                continue
            value = float(sampled["value"])
            readings.append(value * 1000 if sampled.get("unit") == "kWh" else value)
    return readings


@pytest.fixture
def demo_factory(tmp_path: Path) -> Iterator[Callable[..., DemoRun]]:
    """Creates demo runs (not started); whatever is still running at the end is killed."""
    runs: list[DemoRun] = []

    def make(state_dir: Path | None = None, **options: Any) -> DemoRun:
        run = DemoRun(state_dir or tmp_path / "demo", **options)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.kill()
