"""The simulator as a subprocess that dies with the test process, driven over stdin.

Every line it prints is one JSON event; :meth:`Simulator.wait` finds them, bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1
# Resolved here, in the parent: the forked child only makes the call.
_LIBC = ctypes.CDLL(None, use_errno=True)


def subset(actual: Any, expected: Any) -> bool:
    """``expected`` is contained in ``actual``: dicts by key, callables as predicates."""
    if callable(expected):
        try:
            return bool(expected(actual))
        except (KeyError, TypeError, ValueError, IndexError):
            return False
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and subset(actual[key], value) for key, value in expected.items()
        )
    return bool(actual == expected)


def _die_with_parent(parent: int) -> Callable[[], None]:
    """preexec_fn: SIGKILL this child when the test process dies, however it dies."""

    def preexec() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class Simulator:
    """``python -m custom_components.ocpp_cp.engine`` as a subprocess, driven over stdin."""

    def __init__(self, process: asyncio.subprocess.Process, stderr_path: Path) -> None:
        self.process = process
        self.stderr_path = stderr_path
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, url: str, state_dir: Path, *args: str) -> Simulator:
        state_dir.mkdir(parents=True, exist_ok=True)
        stderr_path = state_dir / "stderr.log"
        with stderr_path.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "custom_components.ocpp_cp.engine",
                "--url",
                url,
                "--id",
                "CP1",
                "--state-dir",
                str(state_dir),
                "--no-energy-model",  # registers set by the tests, to the Wh
                *args,
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
                limit=1 << 22,
            )
        return cls(process, stderr_path)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            text = raw.decode("utf-8", "replace").strip()
            try:
                event = json.loads(text)
            except ValueError:
                event = {"event": "raw", "text": text}
            if not isinstance(event, dict):
                event = {"event": "raw", "text": text}
            self.events.append(event)
            self.changed.set()
        self.events.append({"event": "exited"})
        self.changed.set()

    def mark(self) -> int:
        return len(self.events)

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    async def wait(
        self, predicate: Callable[[dict[str, Any]], bool], after: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for event in self.events[after:]:
                        if subset(event, predicate):
                            return event
                    if self.events and self.events[-1].get("event") == "exited":
                        raise TimeoutError
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            tail = "\n".join(json.dumps(e) for e in self.events[after:][-40:])
            exited = any(e.get("event") == "exited" for e in self.events)
            ended = " (it exited)" if exited else ""
            raise AssertionError(
                f"the simulator{ended} printed no matching event within {timeout} s; "
                f"its last events:\n"
                f"{tail}\nstderr:\n{self.stderr()}"
            ) from None

    async def wait_event(
        self, event: str, after: int = 0, timeout: float = 10.0, **fields: Any
    ) -> dict[str, Any]:
        return await self.wait(_event(event, fields), after, timeout)

    def find(self, event: str, after: int = 0, **fields: Any) -> list[dict[str, Any]]:
        match = _event(event, fields)
        return [e for e in self.events[after:] if match(e)]

    async def send(self, command: str, timeout: float = 10.0) -> dict[str, Any]:
        """Send one stdin command; its acknowledgement (``{"event": "command", ...}``)."""
        assert self.process.stdin is not None
        mark = self.mark()
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.wait(
            lambda e: e.get("event") == "command" and e.get("command") == command, mark, timeout
        )

    async def do(self, command: str, timeout: float = 10.0) -> dict[str, Any]:
        """Send a command that must succeed."""
        ack = await self.send(command, timeout)
        assert ack.get("ok") is True, f"simulator command {command!r} failed: {ack}"
        return ack

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 10)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


def _event(event: str, fields: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("event") == event and subset(e, fields)
