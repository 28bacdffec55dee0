"""Drive the strict Node CSMS (tests/strict_csms/server.js) from Python tests.

The Node side is an ocpp-rpc ``RPCServer`` in strict mode: every OCPP 1.6J message in both
directions is validated against the OCPP 1.6 JSON schemas, and every failure is reported as a
``violation`` event. This module starts it as a subprocess, collects its events and sends it
commands, using the line protocol documented at the top of server.js.

Violation directions: ``"in"`` means the charge point sent something invalid (a call or a
response to one of our calls), ``"out"`` means the CSMS sent (or would have sent) something
invalid.

Usage::

    async with StrictCsms() as csms:
        ...  # connect a charge point to f"{csms.url}/CP_1" with subprotocol "ocpp1.6"
        await csms.wait_for(lambda e: e["event"] == "call_in" and e["method"] == "Heartbeat")
        reply = await csms.call("GetConfiguration", {})
        csms.assert_no_violations()

Requires ``npm ci`` in tests/strict_csms (this module never installs anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

type Event = dict[str, Any]
type Predicate = Callable[[Event], bool]

REPO_ROOT = Path(__file__).resolve().parent.parent
STRICT_CSMS_DIR = REPO_ROOT / "tests" / "strict_csms"

_STREAM_LIMIT = 16 * 1024 * 1024  # one event per line; meter values can be long
_STOP_GRACE_S = 5.0
_TAIL = 20  # how many recent events/stderr lines go into error messages


class StrictCsmsError(RuntimeError):
    """The strict CSMS could not be started or died unexpectedly."""


class StrictCsms:
    """A strict OCPP 1.6J CSMS subprocess (ocpp-rpc, strictMode) and its event stream."""

    def __init__(
        self,
        *,
        node: str = "node",
        csms_dir: Path = STRICT_CSMS_DIR,
        startup_timeout: float = 20.0,
    ) -> None:
        self._node = node
        self._csms_dir = csms_dir
        self._startup_timeout = startup_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._stdout_task: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._stdout_closed = False
        self._port: int | None = None
        self._next_tag = 0
        self.events: list[Event] = []
        self.stderr_lines: list[str] = []

    # ---- properties ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise StrictCsmsError("strict CSMS not started")
        return self._port

    @property
    def url(self) -> str:
        """Base websocket URL; a charge point connects to f"{url}/{identity}"."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def violations(self) -> list[Event]:
        return [e for e in self.events if e.get("event") == "violation"]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._proc is not None:
            raise StrictCsmsError("strict CSMS already started")
        server_js = self._csms_dir / "server.js"
        if not (self._csms_dir / "node_modules" / "ocpp-rpc").is_dir():
            raise StrictCsmsError(
                f"{self._csms_dir / 'node_modules'} is missing (or has no ocpp-rpc): run "
                f"`npm ci` in {self._csms_dir} first (scripts/ci-deps.sh does this)"
            )
        node = shutil.which(self._node)
        if node is None:
            raise StrictCsmsError(f"Node.js executable {self._node!r} not found on PATH")

        self._proc = await asyncio.create_subprocess_exec(
            node,
            str(server_js),
            "0",
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_STREAM_LIMIT,
        )
        self._stdout_task = asyncio.create_task(self._read_stdout(), name="strict-csms-stdout")
        self._stderr_task = asyncio.create_task(self._read_stderr(), name="strict-csms-stderr")
        try:
            listening = await self.wait_for(
                lambda e: e.get("event") == "listening", timeout=self._startup_timeout
            )
        except BaseException:
            await self.stop()
            raise
        self._port = int(listening["port"])

    async def stop(self) -> None:
        """Ask the server to quit; kill it after 5 s. Safe to call more than once."""
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.returncode is None:
                await self._send({"cmd": "quit"}, check=False)
                if proc.stdin is not None:
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
                try:
                    async with asyncio.timeout(_STOP_GRACE_S):
                        await proc.wait()
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
        finally:
            if proc.returncode is None:  # cancelled while waiting: never leave it behind
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_STOP_GRACE_S):
                        await proc.wait()
            readers = {t for t in (self._stdout_task, self._stderr_task) if t is not None}
            if readers:
                # Readers end by themselves at EOF; give them a moment, then cancel.
                _, pending = await asyncio.wait(readers, timeout=1.0)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*readers, return_exceptions=True)
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- events -------------------------------------------------------------------------

    async def wait_for(
        self,
        predicate: Predicate,
        timeout: float = 10.0,
        *,
        since: int = 0,
    ) -> Event:
        """Return the first event (from index ``since`` on) matching ``predicate``.

        Events already received count. Raises TimeoutError (with the latest events in the
        message) if none matches in time, StrictCsmsError if the server exits first.
        """
        index = since
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._changed.clear()
                    while index < len(self.events):
                        event = self.events[index]
                        index += 1
                        if predicate(event):
                            return event
                    if self._stdout_closed:
                        raise StrictCsmsError(
                            f"strict CSMS exited (code {self.returncode}) before a matching "
                            f"event arrived\n{self._describe()}"
                        )
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"no matching strict CSMS event within {timeout} s\n{self._describe()}"
            ) from None

    async def wait_for_event(
        self,
        name: str,
        timeout: float = 10.0,
        *,
        since: int = 0,
        **fields: Any,
    ) -> Event:
        """wait_for an event called ``name`` whose fields equal ``fields``."""
        return await self.wait_for(
            lambda e: e.get("event") == name and all(e.get(k) == v for k, v in fields.items()),
            timeout,
            since=since,
        )

    async def sync(self, timeout: float = 10.0) -> None:
        """Round-trip a ping through the server.

        Afterwards every event the server emitted before reading the ping is in ``events``.
        Use it before checking ``violations`` when the last thing observed was on the charge
        point side (e.g. it just got its CALLERROR): the server reports the violation before
        answering, but the report travels over a different pipe.
        """
        tag = self._new_tag("ping")
        since = len(self.events)
        await self._send({"cmd": "ping", "id": tag})
        await self.wait_for_event("pong", timeout, since=since, id=tag)

    async def check_no_violations(self) -> None:
        """sync(), then assert_no_violations()."""
        await self.sync()
        self.assert_no_violations()

    def assert_no_violations(self) -> None:
        violations = self.violations
        if violations:
            lines = "\n".join(json.dumps(v, sort_keys=True) for v in violations)
            raise AssertionError(f"{len(violations)} OCPP schema/protocol violation(s):\n{lines}")

    # ---- commands -----------------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: dict[str, Any],
        timeout: float = 10.0,
        *,
        identity: str | None = None,
    ) -> Event:
        """Call the connected charge point; return its ``result_in`` or ``error_in`` event.

        The Node side gives up after ``timeout`` (error_in with source "timeout"); an
        error_in with source "validation" means strict validation failed (see violations).
        """
        tag = self._new_tag("call")
        since = len(self.events)
        cmd: dict[str, Any] = {
            "cmd": "call",
            "id": tag,
            "method": method,
            "params": params,
            "timeout_ms": max(1, int(timeout * 1000)),
        }
        if identity is not None:
            cmd["identity"] = identity
        await self._send(cmd)
        return await self.wait_for(
            lambda e: e.get("event") in ("result_in", "error_in") and e.get("id") == tag,
            timeout + 5.0,
            since=since,
        )

    async def set_response(self, method: str, result: Any) -> None:
        """Answer every later ``method`` call with ``result`` (not validated here: an invalid
        result produces an "out" violation and the charge point gets an InternalError)."""
        await self._command_with_ack({"cmd": "set_response", "method": method, "result": result})

    async def reset_response(self, method: str) -> None:
        """Go back to the canned answer for ``method``."""
        await self._command_with_ack({"cmd": "reset_response", "method": method})

    async def close_client(
        self, identity: str | None = None, *, code: int = 1000, reason: str = ""
    ) -> Event:
        """Close the charge point's websocket (the latest connected one by default).

        Returns the ack event; its ``closed`` field says whether a client was connected.
        The ``disconnected`` event follows once the close handshake is done.
        """
        cmd: dict[str, Any] = {"cmd": "close", "code": code, "reason": reason}
        if identity is not None:
            cmd["identity"] = identity
        return await self._command_with_ack(cmd)

    async def send_raw_line(self, line: str) -> None:
        """Write one raw line to the server's stdin (for testing the command parser)."""
        await self._write(line.encode() + b"\n", check=True)

    # ---- internals ----------------------------------------------------------------------

    def _new_tag(self, prefix: str) -> str:
        self._next_tag += 1
        return f"{prefix}-{self._next_tag}"

    async def _command_with_ack(
        self,
        cmd: dict[str, Any],
        timeout: float = 10.0,
    ) -> Event:
        tag = self._new_tag(str(cmd["cmd"]))
        since = len(self.events)
        await self._send({**cmd, "id": tag})
        return await self.wait_for(
            lambda e: e.get("event") in ("ack", "bad_command")
            and (e.get("id") == tag or tag in str(e.get("line", ""))),
            timeout,
            since=since,
        )

    async def _send(self, cmd: dict[str, Any], *, check: bool = True) -> None:
        await self._write(json.dumps(cmd).encode() + b"\n", check=check)

    async def _write(self, data: bytes, *, check: bool) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            if check:
                raise StrictCsmsError(f"strict CSMS is not running\n{self._describe()}")
            return
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as err:
            if check:
                raise StrictCsmsError(f"strict CSMS stdin closed\n{self._describe()}") from err

    async def _read_stdout(self) -> None:
        assert self._proc is not None
        stream = self._proc.stdout
        assert stream is not None
        try:
            while True:
                try:
                    line = await stream.readline()
                except ValueError as err:  # a line longer than _STREAM_LIMIT
                    self.events.append({"event": "harness_error", "error": repr(err)})
                    self._changed.set()
                    continue
                if not line:
                    break
                text = line.decode(errors="replace").strip()
                if not text:
                    continue
                try:
                    event = json.loads(text)
                except json.JSONDecodeError:
                    event = {"event": "raw_stdout", "line": text}
                if not isinstance(event, dict):
                    event = {"event": "raw_stdout", "line": text}
                self.events.append(event)
                self._changed.set()
        finally:
            self._stdout_closed = True
            self._changed.set()

    async def _read_stderr(self) -> None:
        assert self._proc is not None
        stream = self._proc.stderr
        assert stream is not None
        while line := await stream.readline():
            self.stderr_lines.append(line.decode(errors="replace").rstrip())

    def _describe(self) -> str:
        events = "\n".join(f"  {json.dumps(e, sort_keys=True)}" for e in self.events[-_TAIL:])
        parts = [f"last {min(len(self.events), _TAIL)} of {len(self.events)} events:\n{events}"]
        if self.stderr_lines:
            parts.append("stderr:\n" + "\n".join(f"  {s}" for s in self.stderr_lines[-_TAIL:]))
        return "\n".join(parts)
