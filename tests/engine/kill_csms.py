"""A raw OCPP 1.6J central system for kill tests, on plain ``websockets`` so it can misbehave.

It outlives the simulator processes of one run and records every frame either side sends
(``Frame``, numbered in receive order, tagged with the incarnation of the connection). It
answers the charge point's CALLs with sensible defaults, or late, or not at all ("silent"),
or with CALLERRORs, or with a chosen transactionId; it calls the charge point itself; and it
runs hooks synchronously the moment a frame arrives or an answer leaves, so a test can
SIGKILL the charge point at an exact point of the exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from .kill_checker import CALL, CALLERROR, CALLRESULT, CP, CSMS, Frame

type FrameHook = Callable[[Frame], bool | None]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CsmsCallError(Exception):
    """The charge point answered our CALL with a CALLERROR (``frame`` has it)."""

    def __init__(self, frame: Frame) -> None:
        super().__init__(frame.describe())
        self.frame = frame


class KillCsms:
    """One charge point's central system on 127.0.0.1, path ``/<charge point id>``."""

    def __init__(self, charge_point_id: str) -> None:
        self.charge_point_id = charge_point_id
        self.server: Server | None = None
        self.port = 0
        self.frames: list[Frame] = []
        # Set by the harness before it starts each simulator process.
        self.incarnation = 0
        self.connection: ServerConnection | None = None
        self.connection_incarnation = 0
        self.connections = 0
        self.changed = asyncio.Event()
        # -- behaviour, changed freely by tests --
        self.delays: dict[str, float] = {}  # action -> seconds before the answer
        self.errors: dict[str, int] = {}  # action -> how many more CALLERROR answers
        self.start_ids: list[int] = []  # forced transactionIds for the next StartTransactions
        self.silent_until = 0.0  # time.monotonic(): answer no CALL before then
        # Hooks return True to be removed. on_cp_call runs when a CALL arrives, before it is
        # answered; after_answer right after our answer left; on_answer_to[uid] when the
        # charge point's answer to our CALL ``uid`` arrives, before anything else.
        self.on_cp_call: list[FrameHook] = []
        self.after_answer: list[FrameHook] = []
        self.on_answer_to: dict[str, Callable[[Frame], None]] = {}
        self._next_tx = 0
        self._tx_of_uid: dict[str, int] = {}
        self._pending: dict[str, tuple[str, asyncio.Future[Frame], ServerConnection]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, charge_point_id: str) -> KillCsms:
        csms = cls(charge_point_id)
        csms.server = await serve(
            csms._handler,
            "127.0.0.1",
            0,
            subprotocols=[Subprotocol("ocpp1.6")],
            ping_interval=None,
            compression=None,
            close_timeout=1,
        )
        csms.port = next(iter(csms.server.sockets)).getsockname()[1]
        return csms

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    def reset_behaviour(self) -> None:
        self.delays.clear()
        self.errors.clear()
        self.start_ids.clear()
        self.silent_until = 0.0
        self.on_cp_call.clear()
        self.after_answer.clear()
        self.on_answer_to.clear()

    def silence(self, seconds: float) -> None:
        """Keep the socket (pings are still answered) but answer no CALL for ``seconds``."""
        self.silent_until = time.monotonic() + seconds

    # -- recording ------------------------------------------------------------------------

    def _record(
        self,
        incarnation: int,
        sender: str,
        kind: int,
        uid: str,
        action: str,
        payload: dict[str, Any],
        delivered: bool = True,
    ) -> Frame:
        frame = Frame(
            len(self.frames),
            incarnation,
            time.time(),
            sender,
            kind,
            uid,
            action,
            payload,
            delivered,
        )
        self.frames.append(frame)
        self.changed.set()
        return frame

    def cp_calls(self, action: str, incarnation: int | None = None) -> list[Frame]:
        """The charge point's CALLs of ``action`` as received (resends included)."""
        return [
            f
            for f in self.frames
            if f.sender == CP
            and f.kind == CALL
            and f.action == action
            and (incarnation is None or f.incarnation == incarnation)
        ]

    def answers_to(self, uid: str) -> list[Frame]:
        """What we answered to the charge point's CALL ``uid`` (every time it came)."""
        return [
            f for f in self.frames if f.sender == CSMS and f.kind != CALL and f.unique_id == uid
        ]

    async def wait_for(
        self, predicate: Callable[[Frame], bool], *, after: int = 0, timeout: float = 10
    ) -> Frame:
        """The first frame from position ``after`` on that matches, waiting up to ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                for frame in self.frames[after:]:
                    if predicate(frame):
                        return frame
                after = max(after, len(self.frames))
                self.changed.clear()
                await self.changed.wait()

    # -- the connection -------------------------------------------------------------------

    async def _handler(self, websocket: ServerConnection) -> None:
        if websocket.request is None or websocket.request.path != f"/{self.charge_point_id}":
            await websocket.close(1008, "unknown charge point")
            return
        incarnation = self.incarnation
        self.connection = websocket
        self.connection_incarnation = incarnation
        self.connections += 1
        self.changed.set()
        try:
            async for raw in websocket:
                self._receive(websocket, incarnation, raw)
        except ConnectionClosed:
            pass
        finally:
            if self.connection is websocket:
                self.connection = None
            for uid, (_, future, owner) in list(self._pending.items()):
                if owner is websocket and not future.done():
                    future.set_exception(ConnectionError("the charge point went away"))
                    del self._pending[uid]
            self.changed.set()

    def _receive(self, websocket: ServerConnection, incarnation: int, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
            kind, uid = int(message[0]), str(message[1])
        except (ValueError, TypeError, IndexError, KeyError):
            return
        if kind == CALL:
            frame = self._record(incarnation, CP, CALL, uid, str(message[2]), dict(message[3]))
            self._run_hooks(self.on_cp_call, frame)
            self._spawn(self._answer(websocket, frame))
            return
        pending = self._pending.pop(uid, None)
        hook = self.on_answer_to.pop(uid, None)
        action = pending[0] if pending else ""
        if kind == CALLRESULT:
            payload = dict(message[2])
        else:
            payload = {"errorCode": message[2], "errorDescription": message[3]}
        frame = Frame(len(self.frames), incarnation, time.time(), CP, kind, uid, action, payload)
        if hook is not None:
            hook(frame)  # e.g. SIGKILL the charge point before anything else happens
        self.frames.append(frame)
        self.changed.set()
        if pending is not None and not pending[1].done():
            pending[1].set_result(frame)

    @staticmethod
    def _run_hooks(hooks: list[FrameHook], frame: Frame) -> None:
        for hook in list(hooks):
            if hook(frame) and hook in hooks:
                hooks.remove(hook)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- answering the charge point -------------------------------------------------------

    def _result(self, call: Frame) -> dict[str, Any]:
        action = call.action
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now_iso(), "interval": 300}
        if action == "Heartbeat":
            return {"currentTime": now_iso()}
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            if self.start_ids:
                tx_id = self.start_ids.pop(0)  # forced, and not remembered for the resend
            elif call.unique_id in self._tx_of_uid:
                tx_id = self._tx_of_uid[call.unique_id]  # a resend gets the same id
            else:
                self._next_tx += 1
                tx_id = self._tx_of_uid[call.unique_id] = self._next_tx
            return {"transactionId": tx_id, "idTagInfo": {"status": "Accepted"}}
        if action in ("DataTransfer", "SignCertificate"):
            return {"status": "Accepted"}
        return {}  # StatusNotification, MeterValues, StopTransaction, *StatusNotification

    async def _answer(self, websocket: ServerConnection, call: Frame) -> None:
        if time.monotonic() < self.silent_until:
            return  # silent: never answered; the charge point has to send it again
        delay = self.delays.get(call.action, 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if self.errors.get(call.action, 0) > 0:
            self.errors[call.action] -= 1
            kind, body = CALLERROR, {"errorCode": "InternalError", "errorDescription": "injected"}
            text = json.dumps([CALLERROR, call.unique_id, "InternalError", "injected", {}])
        else:
            kind, body = CALLRESULT, self._result(call)
            text = json.dumps([CALLRESULT, call.unique_id, body])
        delivered = True
        try:
            await websocket.send(text)
        except ConnectionClosed:
            delivered = False
        frame = self._record(
            call.incarnation, CSMS, kind, call.unique_id, call.action, body, delivered
        )
        if delivered:
            self._run_hooks(self.after_answer, frame)

    # -- calling the charge point ---------------------------------------------------------

    async def call(
        self,
        action: str,
        payload: dict[str, Any],
        *,
        timeout: float = 10,
        on_answer: Callable[[Frame], None] | None = None,
    ) -> Frame:
        """Send a CALL on the current connection and return the charge point's answer frame.

        Raises ConnectionError when there is no connection or it goes away, TimeoutError,
        and CsmsCallError for a CALLERROR. ``on_answer`` runs the instant the answer arrives.
        """
        websocket = self.connection
        if websocket is None:
            raise ConnectionError("no charge point connected")
        uid = str(uuid.uuid4())
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[uid] = (action, future, websocket)
        if on_answer is not None:
            self.on_answer_to[uid] = on_answer
        self._record(self.connection_incarnation, CSMS, CALL, uid, action, payload)
        try:
            await websocket.send(json.dumps([CALL, uid, action, payload]))
            async with asyncio.timeout(timeout):
                answer = await future
        except ConnectionClosed as err:
            raise ConnectionError("the charge point went away") from err
        finally:
            self._pending.pop(uid, None)
            self.on_answer_to.pop(uid, None)
        if answer.kind == CALLERROR:
            raise CsmsCallError(answer)
        return answer

    async def wait_connected(self, timeout: float = 15) -> ServerConnection:
        async with asyncio.timeout(timeout):
            while self.connection is None:
                self.changed.clear()
                await self.changed.wait()
        assert self.connection is not None
        return self.connection
