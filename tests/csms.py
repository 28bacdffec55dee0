"""A real central system for tests: the ``ocpp`` library's CSMS side on 127.0.0.1.

It records every CALL the charge point makes, answers with configurable payloads, can call the
charge point, send raw frames, refuse connections (401/404), stop answering pings, and serve TLS.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from ocpp import exceptions as ocpp_errors
from ocpp.routing import on
from ocpp.v16 import ChargePoint as LibraryChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

# The measurands evcc probes, one ChangeConfiguration(MeterValuesSampledData) each, at setup.
EVCC_MEASURANDS = (
    "Power.Active.Import",
    "Energy.Active.Import.Register",
    "Current.Import",
    "Voltage",
    "Current.Offered",
    "Power.Offered",
    "SoC",
)


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Received:
    action: str
    payload: dict[str, Any]
    at: float


class RecordingConnection:
    """Wraps the server connection to keep every raw frame the charge point sent."""

    def __init__(self, websocket: ServerConnection, sink: list[str]) -> None:
        self._websocket = websocket
        self._sink = sink

    async def recv(self) -> str:
        message = await self._websocket.recv()
        text = message if isinstance(message, str) else message.decode()
        self._sink.append(text)
        return text

    async def send(self, message: str) -> None:
        await self._websocket.send(message)


class CsmsSide(LibraryChargePoint):  # type: ignore[misc]
    """What the CSMS does with each CALL from the charge point."""

    def __init__(self, csms: TestCsms, charge_point_id: str, connection: Any) -> None:
        super().__init__(charge_point_id, connection, response_timeout=10)
        self.csms = csms

    def _record(self, action: str, **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        self.csms.received.append(Received(action, kwargs, loop.time()))
        self.csms.changed.set()

    @on(Action.boot_notification)
    def on_boot(self, **kwargs: Any) -> Any:
        self._record("BootNotification", **kwargs)
        answer = self.csms.boot_answers.pop(0) if self.csms.boot_answers else ("Accepted", 300)
        return call_result.BootNotification(
            current_time=now(), interval=answer[1], status=answer[0]
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> Any:
        self._record("Heartbeat", **kwargs)
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **kwargs: Any) -> Any:
        self._record("StatusNotification", **kwargs)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **kwargs: Any) -> Any:
        self._record("Authorize", **kwargs)
        return call_result.Authorize(id_tag_info=self.csms.id_tag_info(kwargs["id_tag"]))

    @on(Action.start_transaction)
    async def on_start(self, **kwargs: Any) -> Any:
        self._record("StartTransaction", **kwargs)
        if self.csms.hold_start is not None:
            await self.csms.hold_start.wait()
        self.csms.next_transaction_id += 1
        return call_result.StartTransaction(
            transaction_id=self.csms.next_transaction_id,
            id_tag_info=self.csms.id_tag_info(kwargs["id_tag"]),
        )

    @on(Action.stop_transaction)
    def on_stop(self, **kwargs: Any) -> Any:
        self._record("StopTransaction", **kwargs)
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs: Any) -> Any:
        self._record("MeterValues", **kwargs)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **kwargs: Any) -> Any:
        self._record("DataTransfer", **kwargs)
        return call_result.DataTransfer(status="Accepted", data="pong")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **kwargs: Any) -> Any:
        self._record("DiagnosticsStatusNotification", **kwargs)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **kwargs: Any) -> Any:
        self._record("FirmwareStatusNotification", **kwargs)
        return call_result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status(self, **kwargs: Any) -> Any:
        self._record("SignedFirmwareStatusNotification", **kwargs)
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event(self, **kwargs: Any) -> Any:
        self._record("SecurityEventNotification", **kwargs)
        if self.csms.security_event_errors:
            self.csms.security_event_errors -= 1
            raise self.csms.security_event_error(description="refused by the test CSMS")
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    def on_log_status(self, **kwargs: Any) -> Any:
        self._record("LogStatusNotification", **kwargs)
        return call_result.LogStatusNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **kwargs: Any) -> Any:
        self._record("SignCertificate", **kwargs)
        return call_result.SignCertificate(status="Accepted")


@dataclass
class Session:
    charge_point_id: str
    websocket: ServerConnection
    side: CsmsSide
    task: asyncio.Task[None]
    request_headers: dict[str, str] = field(default_factory=dict)


class TestCsms:
    """Start with ``await TestCsms.start()``; always ``await csms.stop()``."""

    __test__ = False

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.raw_in: list[str] = []
        self.changed = asyncio.Event()
        self.sessions: list[Session] = []
        self.connected = asyncio.Event()
        self.boot_answers: list[tuple[str, int]] = []
        self.id_tag_status: dict[str, str] = {}
        # The group (parentIdTag) the CSMS puts an idTag in, answered in its idTagInfo.
        self.parent_id_tag: dict[str, str] = {}
        self.next_transaction_id = 0
        self.hold_start: asyncio.Event | None = None
        # How many SecurityEventNotifications to answer with ``security_event_error``.
        self.security_event_errors = 0
        self.security_event_error: type[ocpp_errors.OCPPError] = ocpp_errors.NotImplementedError
        self.expected_password: str | None = None
        self.known_ids: set[str] | None = None
        self.connection_count = 0
        # The close code of each connection the charge point closed (None: no close frame).
        self.close_codes: list[int | None] = []
        self._server: Server | None = None
        self.port = 0
        self.scheme = "ws"

    def id_tag_info(self, id_tag: str) -> dict[str, Any]:
        info: dict[str, Any] = {"status": self.id_tag_status.get(id_tag, "Accepted")}
        if id_tag in self.parent_id_tag:
            info["parentIdTag"] = self.parent_id_tag[id_tag]
        return info

    @classmethod
    async def start(cls, ssl_context: ssl.SSLContext | None = None, port: int = 0) -> TestCsms:
        csms = cls()
        csms.scheme = "wss" if ssl_context else "ws"
        csms._server = await serve(
            csms._handle,
            "127.0.0.1",
            port,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            process_request=csms._check_request,
            ssl=ssl_context,
            ping_interval=None,
        )
        csms.port = csms._server.sockets[0].getsockname()[1]
        return csms

    @property
    def url(self) -> str:
        host = "localhost" if self.scheme == "wss" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}/ocpp"

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path
        if not path.startswith("/ocpp/"):
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown path\n")
        charge_point_id = path.removeprefix("/ocpp/")
        if self.known_ids is not None and charge_point_id not in self.known_ids:
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown charge point\n")
        if self.expected_password is not None:
            header = request.headers.get("Authorization", "")
            expected = (
                "Basic "
                + base64.b64encode(f"{charge_point_id}:{self.expected_password}".encode()).decode()
            )
            if header != expected:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        charge_point_id = websocket.request.path.removeprefix("/ocpp/") if websocket.request else ""
        side = CsmsSide(self, charge_point_id, RecordingConnection(websocket, self.raw_in))
        self.connection_count += 1
        task = asyncio.current_task()
        assert task is not None
        session = Session(charge_point_id, websocket, side, task)
        self.sessions.append(session)
        self.connected.set()
        try:
            await side.start()
        except Exception:  # connection closed
            pass
        finally:
            self.close_codes.append(websocket.close_code)
            self.sessions.remove(session)
            if not self.sessions:
                self.connected.clear()

    # -- helpers ----------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        assert self.sessions, "no charge point connected"
        return self.sessions[-1]

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.received if r.action == action]

    async def wait_for(
        self,
        action: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The first ``action`` received at index >= ``after`` that matches ``predicate``."""
        async with asyncio.timeout(timeout):
            while True:
                for item in self.received[after:]:
                    if item.action == action and (predicate is None or predicate(item.payload)):
                        return item.payload
                self.changed.clear()
                await self.changed.wait()

    async def wait_connected(self, timeout: float = 10.0) -> Session:
        async with asyncio.timeout(timeout):
            await self.connected.wait()
        return self.session

    async def call(self, payload: Any) -> Any:
        """Call the charge point with an ``ocpp.v16.call`` dataclass; raises on CALLERROR."""
        return await self.session.side.call(payload, suppress=False)

    async def send_raw(self, text: str) -> None:
        await self.session.websocket.send(text)

    async def wait_raw(
        self, predicate: Callable[[list[Any]], bool], *, after: int = 0, timeout: float = 5.0
    ) -> list[Any]:
        async with asyncio.timeout(timeout):
            while True:
                for text in self.raw_in[after:]:
                    try:
                        frame = json.loads(text)
                    except ValueError:
                        continue
                    if isinstance(frame, list) and predicate(frame):
                        return frame
                await asyncio.sleep(0.01)

    def go_silent(self) -> None:
        """Stop reading from every connection: no pongs, no answers (a half-open link)."""
        for session in self.sessions:
            session.websocket.transport.pause_reading()

    async def drop(self) -> None:
        """Close every charge point connection abruptly."""
        for session in list(self.sessions):
            session.websocket.transport.abort()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for session in list(self.sessions):
                session.websocket.transport.abort()
            await self._server.wait_closed()
            for session in list(self.sessions):
                session.task.cancel()
            self._server = None
