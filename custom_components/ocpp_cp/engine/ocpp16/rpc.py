"""The OCPP-J wire on top of the ``ocpp`` library's v16 ChargePoint.

We keep the library's call plumbing, its enums and its schemas, and replace the parts that are
wrong or slow for a charge point:

* validation runs a compiled schema inline instead of an interpreted one in a thread;
* CALLERROR codes follow OCPP-J 1.6 (FormationViolation, NotImplemented vs NotSupported);
* malformed frames are answered or dropped without touching the connection;
* responses are matched to calls by unique id; unknown ids are ignored;
* follow-up work is spawned through the owner's task tracker, never left untracked.

Handlers (``ocpp16/handlers``, one per CSMS message) take the camelCase payload dict and return
a dict or a ``Reply``; a handler that changes persistent state returns only once the change is
durable, so the answer never runs ahead of the journal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ocpp.v16 import ChargePoint as LibraryChargePoint
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .frames import (
    KNOWN_ACTIONS,
    MAX_FRAME_BYTES,
    BadFrame,
    Call,
    CallError,
    CallErrorCode,
    CallResult,
    OcppCallError,
    encode_call,
    encode_call_error,
    encode_call_result,
    parse_frame,
    redact,
)
from .validation import ensure_validators, validate

_LOGGER = logging.getLogger(__name__)

type FrameListener = Callable[[str, str], None]
type Spawner = Callable[[Awaitable[None], str], object]  # what it returns is not used


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer plus work to start once the answer is on the wire."""

    payload: dict[str, Any]
    then: Callable[[], Awaitable[None]] | None = None


class NotConnectedError(ConnectionError):
    """No WebSocket to the CSMS right now."""


type Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | Reply]]


class OcppRpc(LibraryChargePoint):  # type: ignore[misc]
    _connection: ClientConnection | None

    def __init__(
        self,
        charge_point_id: str,
        *,
        call_timeout: float,
        spawn: Spawner,
        frame_listener: FrameListener | None = None,
    ) -> None:
        super().__init__(charge_point_id, None, response_timeout=call_timeout, logger=_LOGGER)
        self._websocket: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[CallResult | CallError]] = {}
        self._unfinished_calls = 0
        self._spawn_task = spawn
        self._frame_listener = frame_listener
        self.max_frame_bytes = MAX_FRAME_BYTES
        # The CSMS messages this charge point answers, by action.
        self.handlers: dict[str, Handler] = {}
        self._answer_hooks: dict[str, Callable[[dict[str, Any]], None]] = {}
        # Told (with a description, never the frame) of every frame that is not valid OCPP.
        self.on_invalid: Callable[[str], None] | None = None

    # -- connection -------------------------------------------------------------------------

    def attach(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self._connection = websocket

    def detach(self) -> None:
        self._websocket = None
        self._connection = None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(NotConnectedError("connection to the CSMS lost"))

    @property
    def connected(self) -> bool:
        return self._websocket is not None

    @property
    def unfinished_calls(self) -> int:
        """CALLs of ours still under way: compiling their schemas, waiting their turn (one at
        a time) or awaiting the answer. The call lock alone does not tell: a released lock is
        handed to the next waiter a loop pass later, unlocked in between."""
        return self._unfinished_calls

    @property
    def websocket(self) -> ClientConnection | None:
        return self._websocket

    async def receive_loop(self, websocket: ClientConnection) -> None:
        """Route every frame until the connection closes."""
        try:
            async for raw in websocket:
                await self.route_message(raw)
        except ConnectionClosed:
            pass

    async def _send(self, message: str) -> None:
        websocket = self._websocket
        if websocket is None:
            raise NotConnectedError("not connected to the CSMS")
        if self._frame_listener is not None:
            self._frame_listener("out", message)
        try:
            await websocket.send(message)
        except ConnectionClosed as err:
            raise NotConnectedError("connection to the CSMS lost") from err

    # -- inbound ----------------------------------------------------------------------------

    async def route_message(self, raw_msg: str | bytes) -> None:
        if self._frame_listener is not None:
            text = raw_msg if isinstance(raw_msg, str) else raw_msg.decode("utf-8", "replace")
            self._frame_listener("in", text[:4096])
        try:
            frame = parse_frame(raw_msg, self.max_frame_bytes)
        except BadFrame as err:
            shown = redact(
                raw_msg if isinstance(raw_msg, str) else raw_msg.decode("utf-8", "replace")
            )
            _LOGGER.warning("Malformed frame from the CSMS (%s): %.200r", err.description, shown)
            self._invalid(f"malformed frame: {err.description}")
            if err.unique_id is not None:
                await self._send_quietly(
                    encode_call_error(err.unique_id, err.code, err.description)
                )
            return
        if isinstance(frame, Call):
            await self._handle_call(frame)
            return
        future = self._pending.pop(frame.unique_id, None)
        if future is None:
            _LOGGER.info("Ignoring a response to unknown call id %s", frame.unique_id)
            return
        hook = self._answer_hooks.pop(frame.unique_id, None)
        if hook is not None and isinstance(frame, CallResult):
            try:
                hook(frame.payload)
            except Exception:
                _LOGGER.exception("Handling the answer to %s failed", frame.unique_id)
        if not future.done():
            future.set_result(frame)

    async def _handle_call(self, msg: Call) -> None:
        handler = self.handlers.get(msg.action)
        if handler is None:
            code = (
                CallErrorCode.NOT_SUPPORTED
                if msg.action in KNOWN_ACTIONS
                else CallErrorCode.NOT_IMPLEMENTED
            )
            await self._send_quietly(
                encode_call_error(msg.unique_id, code, f"{msg.action} is not supported")
            )
            return
        try:
            await ensure_validators(msg.action)
            validate(msg.action, msg.payload, response=False, inbound=True)
        except OcppCallError as err:
            self._invalid(f"{msg.action} {err.code}: {err.description}")
            await self._send_quietly(
                encode_call_error(msg.unique_id, err.code, err.description, err.details)
            )
            return
        try:
            answer = await handler(msg.payload)
        except OcppCallError as err:
            await self._send_quietly(
                encode_call_error(msg.unique_id, err.code, err.description, err.details)
            )
            return
        except Exception:
            _LOGGER.exception("Handling %s failed", msg.action)
            await self._send_quietly(
                encode_call_error(msg.unique_id, CallErrorCode.INTERNAL_ERROR, "internal error")
            )
            return
        reply = answer if isinstance(answer, Reply) else Reply(answer)
        try:
            validate(msg.action, reply.payload, response=True, inbound=False)
        except OcppCallError as err:
            _LOGGER.error(  # noqa: TRY400 - our own bug, described
                "Our %s answer broke the schema: %s", msg.action, err.description
            )
            await self._send_quietly(
                encode_call_error(msg.unique_id, CallErrorCode.INTERNAL_ERROR, "internal error")
            )
            return
        await self._send_quietly(encode_call_result(msg.unique_id, reply.payload))
        if reply.then is not None:
            self._spawn_task(reply.then(), f"after {msg.action}")

    def _invalid(self, description: str) -> None:
        if self.on_invalid is not None:
            try:
                self.on_invalid(description)
            except Exception:
                _LOGGER.exception("Recording an invalid message failed")

    async def _send_quietly(self, message: str) -> None:
        """Answers to the CSMS: if the link just died there is nobody left to answer."""
        try:
            await self._send(message)
        except NotConnectedError:
            _LOGGER.debug("Connection gone before the answer could be sent")

    # -- outbound ---------------------------------------------------------------------------

    async def call_action(
        self,
        action: str,
        payload: dict[str, Any],
        *,
        unique_id: str | None = None,
        checked: bool = False,
    ) -> dict[str, Any]:
        """Send one CALL and return the CALLRESULT payload.

        ``checked``: the payload comes from a builder whose every output is validated against
        the schema by the tests (sampled MeterValues), so the hot path skips that.
        Raises OcppCallError for a CALLERROR (or an answer that breaks the schema),
        TimeoutError when no answer comes, NotConnectedError when offline.
        """
        self._unfinished_calls += 1
        try:
            await ensure_validators(action)
            if not checked:
                validate(action, payload, response=False, inbound=False)
            call_id = unique_id or str(uuid.uuid4())
            return await self._call(action, call_id, encode_call(call_id, action, payload))
        finally:
            self._unfinished_calls -= 1

    async def call_encoded(
        self,
        action: str,
        unique_id: str,
        payload_text: str,
        on_answer: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Like ``call_action`` for a payload validated and serialised when it was stored
        (transaction messages from the journal): spliced into the frame as it is.

        ``on_answer`` sees a CALLRESULT's payload the moment it arrives, before the next frame
        is read: what the CSMS says next may already build on it (a RemoteStop of the
        transaction id it has just given).
        """
        frame = f"[2,{json.dumps(unique_id)},{json.dumps(action)},{payload_text}]"
        if on_answer is not None:
            self._answer_hooks[unique_id] = on_answer
        self._unfinished_calls += 1
        try:
            return await self._call(action, unique_id, frame)
        finally:
            self._unfinished_calls -= 1
            self._answer_hooks.pop(unique_id, None)

    async def _call(self, action: str, call_id: str, frame: str) -> dict[str, Any]:
        async with self._call_lock:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[CallResult | CallError] = loop.create_future()
            self._pending[call_id] = future
            # A plain timer instead of asyncio.timeout: this is the per-message hot path.
            timer = loop.call_later(self._response_timeout, _expire, future)
            try:
                await self._send(frame)
                answer = await future
            finally:
                timer.cancel()
                self._pending.pop(call_id, None)
        if isinstance(answer, CallError):
            raise OcppCallError(answer.code, answer.description, answer.details)
        validate(action, answer.payload, response=True, inbound=True)
        return answer.payload


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("no answer from the CSMS in time"))
