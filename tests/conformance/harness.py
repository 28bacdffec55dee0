# The ocpp library's @on/@after decorators are untyped.
# mypy: disable-error-code="misc"
"""The conformance harness: a CSMS on the ``ocpp`` library's central-system side and a small
language for asserting the frames on the wire in order (the simulator process is ``sim.py``).

The CSMS is ``ocpp.v16.ChargePoint`` used as the server side: one ``@on`` handler per message
the charge point may send, answering from settings a test changes (boot answers, idTagInfo per
idTag, transaction ids, DataTransfer answer). Every frame in both directions is kept, in wire
order, as a :class:`Frame` (a CALLRESULT/CALLERROR knows the action of the CALL it answers).
CALLs to the charge point are sent as raw frames, so that a test can break a payload on
purpose; a well-formed one is checked against the 1.6 schema before it leaves, and the charge
point's CALLRESULT is checked against the response schema when it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.exceptions import InternalError, OCPPError
from ocpp.messages import Call, CallResult, validate_payload
from ocpp.routing import on
from ocpp.v16 import ChargePoint as LibraryChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .sim import Simulator, subset

CALL, RESULT, ERROR = 2, 3, 4
# The description of the CALLERRORs the CSMS answers with on purpose (``Csms.refuse``).
REFUSED = "refused on purpose by the test CSMS"

# lbbrhzn/ocpp writes all of these to MeterValuesSampledData in one ChangeConfiguration.
LBBRHZN_MEASURANDS = (
    "Current.Export",
    "Current.Import",
    "Current.Offered",
    "Energy.Active.Export.Register",
    "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval",
    "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval",
    "Energy.Reactive.Import.Interval",
    "Frequency",
    "Power.Active.Export",
    "Power.Active.Import",
    "Power.Factor",
    "Power.Offered",
    "Power.Reactive.Export",
    "Power.Reactive.Import",
    "RPM",
    "SoC",
    "Temperature",
    "Voltage",
)
# What the simulator's meter supplies, plus the two the engine knows from the limit in force.
SIMULATOR_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "Current.Offered",
    "Power.Offered",
)


def now_iso(offset: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- frames ---------------------------------------------------------------------------------


@dataclass
class Frame:
    """One OCPP-J frame as it crossed the wire; ``sender`` is "cp" or "csms"."""

    sender: str
    kind: int
    unique_id: str
    action: str
    payload: Any
    error: str | None
    connection: int
    raw: str
    at: float = field(default_factory=time.monotonic)

    def brief(self) -> str:
        arrow = "CP->CSMS" if self.sender == "cp" else "CSMS->CP"
        name = {CALL: "CALL", RESULT: "RESULT", ERROR: "ERROR"}.get(self.kind, "?")
        body = str(self.error) if self.kind == ERROR else json.dumps(self.payload, sort_keys=True)
        if len(body) > 240:
            body = body[:240] + "..."
        return f"#{self.connection} {self.at:.2f} {arrow} {name} {self.action} {body}"


@dataclass(frozen=True)
class Match:
    """What a frame must look like; ``fields`` is a subset of its payload."""

    sender: str
    kind: int
    action: str
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    where: Callable[[Any], bool] | None = None

    def __call__(self, frame: Frame) -> bool:
        if (frame.sender, frame.kind, frame.action) != (self.sender, self.kind, self.action):
            return False
        if self.error is not None and frame.error != self.error:
            return False
        if self.where is not None and not subset(frame.payload, self.where):
            return False
        return subset(frame.payload, self.fields)

    def __str__(self) -> str:
        arrow = "CP->CSMS" if self.sender == "cp" else "CSMS->CP"
        name = {CALL: "CALL", RESULT: "RESULT", ERROR: "ERROR"}[self.kind]
        extra = self.error or json.dumps(self.fields, default=lambda o: "<predicate>")
        return f"{arrow} {name} {self.action} {extra}"


def req(action: str, where: Callable[[Any], bool] | None = None, **fields: Any) -> Match:
    """A CALL the charge point sent."""
    return Match("cp", CALL, action, fields, where=where)


def conf(action: str, **fields: Any) -> Match:
    """The charge point's CALLRESULT to a CSMS CALL of ``action``."""
    return Match("cp", RESULT, action, fields)


def err(action: str, code: str | None = None) -> Match:
    """The charge point's CALLERROR to a CSMS CALL of ``action``."""
    return Match("cp", ERROR, action, error=code)


def sent(action: str, **fields: Any) -> Match:
    """A CALL the CSMS sent."""
    return Match("csms", CALL, action, fields)


def answered(action: str, **fields: Any) -> Match:
    """The CSMS's CALLRESULT to a charge point CALL."""
    return Match("csms", RESULT, action, fields)


def dump(frames: Iterable[Frame]) -> str:
    return "\n".join("  " + frame.brief() for frame in frames)


def assert_in_order(frames: list[Frame], *matches: Match) -> list[Frame]:
    """Each match is found after the previous one (other frames may come between)."""
    found: list[Frame] = []
    position = 0
    for match in matches:
        for index in range(position, len(frames)):
            if match(frames[index]):
                found.append(frames[index])
                position = index + 1
                break
        else:
            raise AssertionError(
                "expected, in this order:\n  "
                + "\n  ".join(str(m) for m in matches)
                + f"\nmissing (after {len(found)} found): {match}\nframes on the wire:\n"
                + dump(frames)
            )
    return found


def calls(frames: Iterable[Frame], *actions: str) -> list[Frame]:
    """The charge point's CALLs, optionally only of ``actions``."""
    return [
        f
        for f in frames
        if f.sender == "cp" and f.kind == CALL and (not actions or f.action in actions)
    ]


def statuses(frames: Iterable[Frame], connector_id: int | None = None) -> list[str]:
    return [
        f.payload["status"]
        for f in calls(frames, "StatusNotification")
        if connector_id is None or f.payload["connectorId"] == connector_id
    ]


def sampled(frame: Frame) -> dict[str, list[dict[str, Any]]]:
    """MeterValues / StopTransaction.transactionData sampled values by measurand."""
    values: dict[str, list[dict[str, Any]]] = {}
    for meter_value in frame.payload.get("meterValue") or frame.payload.get("transactionData", []):
        for value in meter_value["sampledValue"]:
            measurand = value.get("measurand", "Energy.Active.Import.Register")
            values.setdefault(measurand, []).append(value)
    return values


# -- the CSMS -------------------------------------------------------------------------------


class RecordingConnection:
    """The library's view of the socket. A reader task logs every frame the moment it
    arrives (so the log is in wire order even while a handler is still answering) and hands
    it to the library's loop; every frame sent passes through the log too."""

    def __init__(self, csms: Csms, websocket: ServerConnection, number: int) -> None:
        self.csms = csms
        self.websocket = websocket
        self.number = number
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.reader = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for message in self.websocket:
                text = message if isinstance(message, str) else message.decode()
                self.csms.log("cp", text, self.number)
                self._queue.put_nowait(text)
        except ConnectionClosed:
            pass
        finally:
            self._queue.put_nowait(None)

    async def recv(self) -> str:
        text = await self._queue.get()
        if text is None:
            raise ConnectionError("the charge point closed the connection")
        return text

    async def send(self, message: str) -> None:
        frame = self.csms.log("csms", message, self.number)
        await self.websocket.send(message)
        follow = self.csms.follow_start
        if follow is not None and frame.kind == RESULT and frame.action == "StartTransaction":
            transaction_id = frame.payload["transactionId"]
            action, payload = follow(transaction_id)
            unique_id = str(uuid.uuid4())
            self.csms.followed[transaction_id] = unique_id
            await self.send(json.dumps([CALL, unique_id, action, payload]))


class CsmsSide(LibraryChargePoint):  # type: ignore[misc]
    """The central system's answers to each CALL of the charge point."""

    def __init__(self, csms: Csms, charge_point_id: str, connection: RecordingConnection) -> None:
        super().__init__(charge_point_id, connection, response_timeout=30)
        self.csms = csms

    async def delay(self, action: str = "") -> None:
        if self.csms.answer_delay > 0:
            await asyncio.sleep(self.csms.answer_delay)
        if self.csms.refuse.get(action, 0) > 0:
            self.csms.refuse[action] -= 1
            raise InternalError(description=REFUSED)

    @on(Action.boot_notification)
    async def on_boot_notification(self, **_: Any) -> Any:
        await self.delay()
        status, interval = (
            self.csms.boot_answers.pop(0) if self.csms.boot_answers else ("Accepted", 300)
        )
        return call_result.BootNotification(
            current_time=now_iso(), interval=interval, status=status
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> Any:
        await self.delay()
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    async def on_status_notification(self, **_: Any) -> Any:
        await self.delay()
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **_: Any) -> Any:
        await self.delay()
        return call_result.Authorize(id_tag_info=self.csms.id_tag_info(id_tag))

    @on(Action.start_transaction)
    async def on_start_transaction(self, id_tag: str, **_: Any) -> Any:
        await self.delay("StartTransaction")
        return call_result.StartTransaction(
            transaction_id=next(self.csms.transaction_ids),
            id_tag_info=self.csms.start_id_tags.get(id_tag) or self.csms.id_tag_info(id_tag),
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, **kwargs: Any) -> Any:
        await self.delay("StopTransaction")
        id_tag = kwargs.get("id_tag")
        if id_tag is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info=self.csms.id_tag_info(id_tag))

    @on(Action.meter_values)
    async def on_meter_values(self, **_: Any) -> Any:
        await self.delay("MeterValues")
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, **_: Any) -> Any:
        await self.delay()
        return call_result.DataTransfer(**self.csms.data_transfer_answer)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, **_: Any) -> Any:
        await self.delay()
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, **_: Any) -> Any:
        await self.delay()
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, **_: Any) -> Any:
        await self.delay()
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, **_: Any) -> Any:
        await self.delay()
        return call_result.LogStatusNotification()


@dataclass
class Link:
    number: int
    path: str
    websocket: ServerConnection
    connection: RecordingConnection


class Csms:
    """A central system on 127.0.0.1; ``await Csms.start()``, always ``await csms.stop()``."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.changed = asyncio.Event()
        self.links: list[Link] = []
        self.connections = 0
        self.boot_answers: list[tuple[str, int]] = []
        # idTagInfo (camelCase) the CSMS answers per idTag; anything else is Accepted.
        self.id_tags: dict[str, dict[str, Any]] = {}
        # idTagInfo for StartTransaction.conf only, where it differs from Authorize.conf.
        self.start_id_tags: dict[str, dict[str, Any]] = {}
        self.transaction_ids = itertools.count(1001)
        # A CALL (action, payload) the CSMS sends right behind each StartTransaction.conf, in
        # the same breath (section 5.16.1), given the transactionId; the unique id of each,
        # by transactionId.
        self.follow_start: Callable[[int], tuple[str, dict[str, Any]]] | None = None
        self.followed: dict[int, str] = {}
        self.data_transfer_answer: dict[str, Any] = {"status": "Accepted", "data": "pong"}
        # The action of each CALL by unique id, per sender, to name its answer.
        self._pending: dict[tuple[str, str], str] = {}
        # Unique ids of CALLs the CSMS made that were not well formed on purpose.
        self._unchecked: set[str] = set()
        self.problems: list[str] = []
        # A CALL of the charge point still unanswered, per connection (OCPP-J: one at a time).
        self._outstanding: dict[int, str] = {}
        self.overlaps: list[str] = []
        # Seconds the CSMS takes to answer each CALL of the charge point.
        self.answer_delay = 0.0
        # How many more times the CSMS answers an action with a CALLERROR, on purpose.
        self.refuse: dict[str, int] = {}
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @classmethod
    async def start(cls) -> Csms:
        csms = cls()
        csms._server = await serve(
            csms._handle,
            "127.0.0.1",
            0,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ping_interval=None,
            max_size=None,
        )
        csms.port = next(iter(csms._server.sockets)).getsockname()[1]
        return csms

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def id_tag_info(self, id_tag: str) -> dict[str, Any]:
        return dict(self.id_tags.get(id_tag, {"status": "Accepted"}))

    # -- the wire ---------------------------------------------------------------------------

    def log(self, sender: str, text: str, connection: int) -> Frame:
        try:
            message = json.loads(text)
            kind, unique_id = int(message[0]), str(message[1])
        except (ValueError, TypeError, IndexError, KeyError):
            frame = Frame(sender, 0, "", "", text, None, connection, text)
        else:
            answering = "csms" if sender == "cp" else "cp"
            action, payload, error = "", None, None
            if kind == CALL and len(message) > 3:
                action, payload = str(message[2]), message[3]
                self._pending[(sender, unique_id)] = action
            elif kind == RESULT and len(message) > 2:
                action = self._pending.pop((answering, unique_id), "")
                payload = message[2]
            elif kind == ERROR and len(message) > 4:
                action = self._pending.pop((answering, unique_id), "")
                error, payload = str(message[2]), {"description": message[3], "details": message[4]}
            frame = Frame(sender, kind, unique_id, action, payload, error, connection, text)
            if sender == "cp" and kind == CALL:
                if connection in self._outstanding:
                    self.overlaps.append(
                        f"{action} sent while {self._outstanding[connection]} was unanswered"
                    )
                self._outstanding[connection] = f"{action} {unique_id}"
            elif sender == "csms" and kind in (RESULT, ERROR):
                if self._outstanding.get(connection, "").endswith(unique_id):
                    del self._outstanding[connection]
            if sender == "csms" and kind == ERROR and REFUSED not in text:
                self.problems.append(f"the CSMS refused a CALL of the charge point: {text}")
        self.frames.append(frame)
        self.changed.set()
        return frame

    async def _handle(self, websocket: ServerConnection) -> None:
        self.connections += 1
        path = websocket.request.path if websocket.request else ""
        connection = RecordingConnection(self, websocket, self.connections)
        link = Link(self.connections, path, websocket, connection)
        self.links.append(link)
        side = CsmsSide(self, path.rsplit("/", 1)[-1], connection)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.changed.set()
        try:
            await side.start()
        except Exception:  # the connection closed
            pass
        finally:
            connection.reader.cancel()
            self.links.remove(link)
            if task is not None:
                self._tasks.discard(task)
            self.changed.set()

    @property
    def link(self) -> Link:
        assert self.links, "no charge point is connected"
        return self.links[-1]

    def mark(self) -> int:
        return len(self.frames)

    def since(self, mark: int = 0) -> list[Frame]:
        return self.frames[mark:]

    async def wait(
        self, match: Callable[[Frame], bool], after: int = 0, timeout: float = 10.0
    ) -> Frame:
        """The first frame at index >= ``after`` that matches; fails after ``timeout`` s."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for frame in self.frames[after:]:
                        if match(frame):
                            return frame
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"no {match} within {timeout} s; frames on the wire:\n{dump(self.frames[after:])}"
            ) from None

    async def wait_connected(self, timeout: float = 10.0) -> Link:
        async with asyncio.timeout(timeout):
            while not self.links:
                self.changed.clear()
                await self.changed.wait()
        return self.link

    async def quiet(self, seconds: float) -> list[Frame]:
        """Let ``seconds`` pass; the frames that came meanwhile."""
        mark = self.mark()
        await asyncio.sleep(seconds)
        return self.since(mark)

    # -- calling the charge point -----------------------------------------------------------

    async def send_raw(self, text: str) -> None:
        await self.link.connection.send(text)

    async def answer_to_followed(self, transaction_id: int, timeout: float = 10.0) -> Frame:
        """The charge point's answer to the CALL sent right behind StartTransaction.conf."""
        async with asyncio.timeout(timeout):
            while transaction_id not in self.followed:
                self.changed.clear()
                await self.changed.wait()
        unique_id = self.followed[transaction_id]
        return await self.wait(
            lambda f: f.sender == "cp" and f.kind in (RESULT, ERROR) and f.unique_id == unique_id,
            0,
            timeout,
        )

    async def call(
        self,
        action: str,
        payload: dict[str, Any] | None = None,
        *,
        validate: bool = True,
        timeout: float = 10.0,
    ) -> Frame:
        """CALL the charge point; its CALLRESULT or CALLERROR frame.

        A well-formed CALL (``validate``) is checked against the request schema first; the
        charge point's CALLRESULT must match the response schema.
        """
        payload = {} if payload is None else payload
        unique_id = str(uuid.uuid4())
        if validate:
            await validate_payload(Call(unique_id, action, payload), "1.6")
        mark = self.mark()
        await self.send_raw(json.dumps([CALL, unique_id, action, payload]))
        answer = await self.wait(
            lambda f: f.sender == "cp" and f.kind in (RESULT, ERROR) and f.unique_id == unique_id,
            mark,
            timeout,
        )
        if answer.kind == RESULT:
            result = CallResult(unique_id, answer.payload, action)
            try:
                await validate_payload(result, "1.6")
            except OCPPError as error:
                raise AssertionError(
                    f"the charge point's {action} CALLRESULT breaks the schema: {error}: "
                    f"{answer.raw}"
                ) from None
        return answer

    async def ask(self, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """CALL the charge point and return its CALLRESULT payload (a CALLERROR fails)."""
        answer = await self.call(action, payload)
        assert answer.kind == RESULT, f"{action} answered with a CALLERROR: {answer.raw}"
        result: dict[str, Any] = answer.payload
        return result

    async def configure(self, **values: str | int | bool) -> None:
        """ChangeConfiguration for each key; every one must be Accepted."""
        for key, value in values.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            result = await self.ask("ChangeConfiguration", {"key": key, "value": text})
            assert result == {"status": "Accepted"}, f"ChangeConfiguration {key}={text}: {result}"

    async def configuration(self, *keys: str) -> dict[str, dict[str, Any]]:
        result = await self.ask("GetConfiguration", {"key": list(keys)} if keys else {})
        return {entry["key"]: entry for entry in result.get("configurationKey", [])}

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for link in list(self.links):
            link.websocket.transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 5)
        for task in list(self._tasks):
            task.cancel()
        self._server = None


# -- common steps ---------------------------------------------------------------------------


async def answer_to(csms: Csms, frame: Frame, timeout: float = 10.0) -> Frame:
    """The CSMS's answer to a CALL of the charge point."""
    return await csms.wait(
        lambda f: f.sender == "csms"
        and f.kind in (RESULT, ERROR)
        and f.unique_id == frame.unique_id,
        0,
        timeout,
    )


async def begin(
    csms: Csms, sim: Simulator, tag: str = "TAG1", connector: int = 1, *, charging: bool = True
) -> int:
    """Plug in, present ``tag`` at ``connector``; the transactionId the CSMS gave."""
    mark, events = csms.mark(), sim.mark()
    await sim.do(f"plug {connector}")
    await csms.wait(req("StatusNotification", connectorId=connector, status="Preparing"), mark)
    ack = await sim.do(f"swipe {tag} {connector}")
    assert ack.get("result") == "started", f"swipe {tag} did not start a transaction: {ack}"
    start = await csms.wait(req("StartTransaction", connectorId=connector, idTag=tag), mark)
    answer = await answer_to(csms, start)
    # The charge point has taken the CSMS's transactionId (its "confirmed" event).
    await sim.wait_event("transaction", events, change="confirmed", connector_id=connector)
    if charging:
        await sim.do(f"ev-charging {connector}")
        await csms.wait(req("StatusNotification", connectorId=connector, status="Charging"), mark)
    transaction_id: int = answer.payload["transactionId"]
    return transaction_id
