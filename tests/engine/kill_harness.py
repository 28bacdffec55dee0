"""SIGKILL harness: simulator processes on one state directory, killed and restarted.

``SimProcess`` runs ``python -m custom_components.ocpp_cp.engine`` in its own process group
(dying with pytest), reads its JSON lines and writes its stdin commands. ``KillRun`` ties one
recording ``KillCsms`` to the successive incarnations of one charge point, keeps the
physical world (plugged cars, EV state, energy registers) across kills, and ends a run with
a clean restart, a full drain and the checks of ``kill_checker``.

Set ``OCPP_CP_KILL_ROOT`` to run the simulator from another checkout (e.g. the last commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .kill_checker import (
    CALL,
    CALLRESULT,
    CP,
    CSMS,
    Event,
    RunLog,
    Violation,
    check,
    expected_state,
    format_violations,
)
from .kill_csms import CsmsCallError, KillCsms

ROOT = Path(os.environ.get("OCPP_CP_KILL_ROOT") or Path(__file__).resolve().parents[2])
CP_ID = "KILL1"
PR_SET_PDEATHSIG = 1
TX_ACTIONS = frozenset({"StartTransaction", "MeterValues", "StopTransaction"})

type EventHook = Callable[[Event], bool | None]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when pytest dies, however pytest dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class ProcessGone(Exception):
    """The simulator exited before the awaited line appeared."""


def is_tx(change: str, connector_id: int | None = None) -> Callable[[Event], bool]:
    """Predicate: a ``transaction`` event of this change (and connector)."""
    return lambda e: (
        e.get("event") == "transaction"
        and e.get("change") == change
        and (connector_id is None or e.get("connector_id") == connector_id)
    )


def is_permit(connector_id: int | None = None) -> Callable[[Event], bool]:
    return lambda e: (
        e.get("event") == "hardware"
        and e.get("action") == "charging_permitted"
        and e.get("permitted") is True
        and (connector_id is None or e.get("connector_id") == connector_id)
    )


def tx_default_profile(amps: float, profile_id: int = 5) -> dict[str, Any]:
    """SetChargingProfile.req: a TxDefaultProfile on connector 0, ``amps`` from 2020 on."""
    return {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": profile_id,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": "2020-01-01T00:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": float(amps)}],
            },
        },
    }


class SimProcess:
    """One incarnation of the simulator: its stdout events, its stdin, SIGKILL."""

    def __init__(self, process: asyncio.subprocess.Process, incarnation: int) -> None:
        self.process = process
        self.incarnation = incarnation
        self.events: list[Event] = []
        # Run synchronously on each line as it is read; True removes the hook.
        self.hooks: list[EventHook] = []
        self.changed = asyncio.Event()
        self.killed = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls,
        *,
        url: str,
        state_dir: Path,
        incarnation: int,
        connectors: int,
        call_timeout: float,
        stderr_path: Path,
    ) -> SimProcess:
        stderr = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "custom_components.ocpp_cp.engine",
                "--url",
                url,
                "--id",
                CP_ID,
                "--state-dir",
                str(state_dir),
                "--reconnect-delay",
                "0.2",
                "--call-timeout",
                str(call_timeout),
                "--connectors",
                str(connectors),
                "--no-energy-model",  # the harness models the register itself
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                limit=1 << 22,
            )
        finally:
            os.close(stderr)
        return cls(process, incarnation)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            while raw := await self.process.stdout.readline():
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    data = {"event": "raw", "text": raw.decode("utf-8", "replace")}
                data["_at"] = time.time()
                self.events.append(data)
                for hook in list(self.hooks):
                    if hook(data) and hook in self.hooks:
                        self.hooks.remove(hook)
                self.changed.set()
        finally:
            self.changed.set()

    def kill(self) -> None:
        """SIGKILL, now (the whole process group, which is just the simulator)."""
        if self.process.returncode is None:
            self.killed = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def kill_after(self, seconds: float) -> None:
        if seconds <= 0:
            self.kill()
        else:
            asyncio.get_running_loop().call_later(seconds, self.kill)

    def kill_on(self, predicate: Callable[[Event], bool], seconds: float = 0.0) -> None:
        """SIGKILL ``seconds`` after the first line that matches (checked as it is read)."""

        def hook(event: Event) -> bool:
            if predicate(event):
                self.kill_after(seconds)
                return True
            return False

        self.hooks.append(hook)

    async def wait_exit(self, timeout: float = 10) -> bool:
        """True once the process has exited and its output is read; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self.process.wait()
                await self._reader
        except TimeoutError:
            return False
        return True

    async def wait_for(
        self, predicate: Callable[[Event], bool], *, after: int = 0, timeout: float = 10
    ) -> Event:
        """The first line from position ``after`` on that matches; ProcessGone if it exited."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events[after:]:
                    if predicate(event):
                        return event
                after = max(after, len(self.events))
                if self._reader.done():
                    raise ProcessGone(f"incarnation {self.incarnation} exited")
                self.changed.clear()
                await self.changed.wait()

    async def send(self, command: str) -> None:
        stdin = self.process.stdin
        if stdin is None or not self.alive:
            raise ProcessGone(f"incarnation {self.incarnation} exited")
        try:
            stdin.write(command.encode() + b"\n")
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as err:
            raise ProcessGone(f"incarnation {self.incarnation} exited") from err

    async def command(self, command: str, timeout: float = 10) -> Event:
        """Send a command and return its ``command`` acknowledgement line."""
        mark = len(self.events)
        await self.send(command)
        return await self.wait_for(
            lambda e: e.get("event") == "command" and e.get("command") == command,
            after=mark,
            timeout=timeout,
        )

    def tx_state(self, connector_id: int) -> Event | None:
        """The last started/resumed/stopped event of the connector in this incarnation."""
        for event in reversed(self.events):
            if (
                event.get("event") == "transaction"
                and event.get("connector_id") == connector_id
                and event.get("change") in ("started", "resumed", "stopped")
            ):
                return event
        return None

    def running(self, connector_id: int) -> Event | None:
        """The started/resumed event of the connector's running transaction, if any."""
        state = self.tx_state(connector_id)
        return state if state is not None and state["change"] != "stopped" else None

    async def close(self) -> None:
        self.kill()
        await self.wait_exit(10)
        if not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


@dataclass(slots=True)
class World:
    """What is physically true whatever the charge point believes: cars, EVs, meters."""

    connectors: int
    plugged: dict[int, bool] = field(default_factory=dict)
    charging: dict[int, bool] = field(default_factory=dict)
    energy: dict[int, int] = field(default_factory=dict)
    tags: int = 0

    def __post_init__(self) -> None:
        for c in range(1, self.connectors + 1):
            self.plugged.setdefault(c, False)
            self.charging.setdefault(c, False)
            self.energy.setdefault(c, 1000 * c)

    def new_tag(self) -> str:
        self.tags += 1
        return f"TAG{self.tags:04d}"

    def apply(self, command: str) -> None:
        words = command.split()
        if len(words) < 2 or not words[1].isdigit():
            return
        verb, c = words[0], int(words[1])
        if verb == "plug":
            self.plugged[c] = True
        elif verb == "unplug":
            self.plugged[c] = self.charging[c] = False
        elif verb in ("ev-charging", "ev-suspended"):
            self.charging[c] = verb == "ev-charging"
        elif verb == "meter":
            self.energy[c] = max(self.energy[c], int(words[2]))


class KillRun:
    """The incarnations of one charge point (one state directory) and their CSMS."""

    def __init__(self, directory: Path, csms: KillCsms, connectors: int, call_timeout: float):
        self.directory = directory
        self.state_dir = directory / "state"
        self.csms = csms
        self.connectors = connectors
        self.call_timeout = call_timeout
        self.sims: list[SimProcess] = []
        self.world = World(connectors)
        self.reused_tags: set[str] = set()
        self.final_incarnation: int | None = None
        self.reported = False  # the test has shown report() already

    @classmethod
    async def open(
        cls, directory: Path, *, connectors: int = 1, call_timeout: float = 5.0
    ) -> KillRun:
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory, await KillCsms.start(CP_ID), connectors, call_timeout)

    @property
    def kills(self) -> int:
        return sum(sim.killed for sim in self.sims)

    @property
    def sim(self) -> SimProcess:
        return self.sims[-1]

    def connector_ids(self) -> range:
        return range(1, self.connectors + 1)

    async def launch(self) -> SimProcess:
        """Start the next incarnation on the same state directory."""
        if self.sims and self.sim.alive:
            raise RuntimeError("the previous incarnation is still running")
        self.csms.incarnation = len(self.sims)
        sim = await SimProcess.start(
            url=self.csms.url,
            state_dir=self.state_dir,
            incarnation=len(self.sims),
            connectors=self.connectors,
            call_timeout=self.call_timeout,
            stderr_path=self.directory / f"stderr-{len(self.sims)}.log",
        )
        self.sims.append(sim)
        return sim

    async def wait_accepted(self, timeout: float = 15) -> None:
        """Until the current incarnation is connected and its BootNotification accepted."""
        sim = self.sim
        async with asyncio.timeout(timeout):
            while True:
                states = [e["state"] for e in sim.events if e.get("event") == "state"]
                if (
                    states
                    and states[-1] == "accepted"
                    and self.csms.connection is not None
                    and self.csms.connection_incarnation == sim.incarnation
                ):
                    return
                if not sim.alive:
                    raise ProcessGone(f"incarnation {sim.incarnation} exited")
                await asyncio.sleep(0.02)

    async def kill(self) -> None:
        """SIGKILL the current incarnation (if it is still alive) and wait until it is gone."""
        sim = self.sim
        sim.kill()
        if not await sim.wait_exit(10):
            raise RuntimeError("a SIGKILLed simulator did not exit")

    async def died(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the current incarnation to die (a hook killed it)."""
        return await self.sim.wait_exit(timeout)

    async def quit(self, timeout: float = 15) -> None:
        """A clean stop: ``quit`` on stdin; SIGKILL if it hangs (and fail the test)."""
        sim = self.sim
        with contextlib.suppress(ProcessGone):
            await sim.send("quit")
        if not await sim.wait_exit(timeout):
            sim.kill()
            await sim.wait_exit(10)
            raise AssertionError(f"incarnation {sim.incarnation} did not quit within {timeout}s")

    async def cmd(self, command: str, *, timeout: float = 10) -> Event:
        """A command that changes the world (plug, meter...) and its acknowledgement."""
        self.world.apply(command)
        return await self.sim.command(command, timeout)

    async def reassert(self) -> None:
        """What the hardware reports at start-up: meters, plugs and EV states, as they are."""
        for c in self.connector_ids():
            await self.cmd(f"meter {c} {self.world.energy[c]}")
            await self.cmd(f"{'plug' if self.world.plugged[c] else 'unplug'} {c}")
            if self.world.plugged[c]:
                await self.cmd(f"{'ev-charging' if self.world.charging[c] else 'ev-suspended'} {c}")

    async def restart(self, *, reassert: bool = True) -> SimProcess:
        sim = await self.launch()
        if reassert:
            await self.reassert()
        return sim

    async def call(self, action: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The CSMS calls the charge point; the answer's payload."""
        return (await self.csms.call(action, payload, **kwargs)).payload

    async def configure(self, **keys: str) -> None:
        for key, value in keys.items():
            answer = await self.call("ChangeConfiguration", {"key": key, "value": value})
            assert answer["status"] == "Accepted", (key, answer)

    def log(self) -> RunLog:
        return RunLog(
            list(self.csms.frames),
            [list(sim.events) for sim in self.sims],
            self.final_incarnation,
            reused_tags=frozenset(self.reused_tags),
        )

    def undelivered(self) -> list[str]:
        """Transaction CALLs not answered yet, and transactions without a StopTransaction."""
        answers = [f for f in self.csms.frames if f.sender == CSMS and f.kind != CALL]
        answered = {f.unique_id for f in answers if f.delivered}
        calls = {
            f.unique_id: f
            for f in self.csms.frames
            if f.sender == CP and f.kind == CALL and f.action in TX_ACTIONS
        }
        missing = [f"{f.action} {uid}" for uid, f in calls.items() if uid not in answered]
        started = {
            f.payload["transactionId"]
            for f in answers
            if f.action == "StartTransaction" and f.kind == CALLRESULT and f.delivered
        }
        stopped = {
            f.payload.get("transactionId") for f in calls.values() if f.action == "StopTransaction"
        }
        missing += [f"no StopTransaction for {tx}" for tx in sorted(started - stopped, key=str)]
        return missing

    async def drain(self, *, quiet: float = 1.5, idle: float = 5.0, timeout: float = 40) -> bool:
        """Until every transaction message is answered and every Start has its Stop, and no
        transaction frame came for ``quiet`` s; gives up after ``idle`` s without one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stamps = [
                f.at
                for f in self.csms.frames
                if f.action in TX_ACTIONS and f.incarnation == self.sim.incarnation
            ]
            since = time.time() - max(stamps, default=self.sim.events[0]["_at"])
            if since >= quiet and not self.undelivered():
                return True
            if since >= idle or not self.sim.alive:
                return False
            await asyncio.sleep(0.1)
        return False

    async def verify(self) -> None:
        """Ask the charge point whether every accepted change is still in force."""
        expected = expected_state(self.log())
        queries: list[tuple[str, dict[str, Any]]] = []
        if expected.configuration:
            queries.append(("GetConfiguration", {"key": sorted(expected.configuration)}))
        if expected.local_list_version is not None:
            queries.append(("GetLocalListVersion", {}))
        for c in self.connector_ids():
            if expected.profile_limit(c) is not None:
                queries.append(
                    (
                        "GetCompositeSchedule",
                        {"connectorId": c, "duration": 60, "chargingRateUnit": "A"},
                    )
                )
        for action, payload in queries:
            with contextlib.suppress(ConnectionError, TimeoutError, CsmsCallError):
                await self.csms.call(action, payload)

    async def finish(self, *, restart: bool = True) -> RunLog:
        """A clean restart (unless ``restart`` is False), every car gone, a full drain, the
        verification calls, ``quit``: the log for the checker."""
        self.csms.reset_behaviour()
        if restart:
            if self.sim.alive:
                await self.quit()
            await self.launch()
        self.final_incarnation = self.sim.incarnation
        await self.wait_accepted(20)
        for c in self.connector_ids():
            self.world.plugged[c] = self.world.charging[c] = False
        await self.reassert()
        await self.drain()
        await asyncio.sleep(0.3)  # the last StatusNotifications
        await self.verify()
        await self.quit()
        return self.log()

    def violations(self) -> list[Violation]:
        return check(self.log())

    def dump(self) -> Path:
        """The whole run as JSON (frames and every incarnation's lines), for a post-mortem."""
        path = self.directory / "runlog.json"
        log = self.log()
        document = {
            "final_incarnation": log.final_incarnation,
            "frames": [dataclasses.asdict(frame) for frame in log.frames],
            "incarnations": log.incarnations,
        }
        path.write_text(json.dumps(document, indent=1))
        return path

    def report(self) -> str:
        lines = [
            f"{len(self.sims)} incarnations, {self.kills} kills, state and stderr logs in "
            f"{self.directory}, everything seen in {self.dump()}"
        ]
        for sim in self.sims:
            lines.append(
                f"  inc{sim.incarnation}: {len(sim.events)} lines, "
                f"{'killed' if sim.killed else f'exit {sim.process.returncode}'}"
            )
        violations = self.violations()
        lines.append(format_violations(violations) if violations else "no violations")
        return "\n".join(lines)

    async def close(self) -> None:
        for sim in self.sims:
            await sim.close()
        await self.csms.stop()
