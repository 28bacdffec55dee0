"""GetLog and LogStatusNotification with real FTP and HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import email.policy
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from ocpp.v16 import call
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

from custom_components.ocpp_cp.engine import ChargePointEngine, ConnectionState
from tests.csms import TestCsms

from .conftest import EngineFactory, no_call_in_flight

LSN = "LogStatusNotification"
FTP_PASSWORD = "ftp-pass-6e1d"
HTTP_PASSWORD = "http-pass-91ab"


class FtpServer:
    """pyftpdlib in a thread: user ``logs`` with FTP_PASSWORD, home ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        authorizer = DummyAuthorizer()
        authorizer.add_user("logs", FTP_PASSWORD, str(root), perm="elradfmwMT")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
        self.server = FTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self.server.close_all()

    def url(self, directory: str) -> str:
        return f"ftp://logs:{FTP_PASSWORD}@127.0.0.1:{self.port}/{directory}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class HttpServer:
    """Takes uploads as a PUT of ``<location>/<name>`` or a multipart POST to ``<location>``
    (transfer.py may use either): ``files[name]`` is what arrived under that name.
    ``status`` is what it answers; ``stall`` holds an upload until set."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.directories: list[str] = []
        self.authorization: list[str | None] = []
        self.attempts: list[float] = []
        self.status = 201
        self.stall: threading.Event | None = None
        self.stalled = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                directory, _, name = self.path.rpartition("/")
                self.store(directory, [(unquote(name), body)])

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n"
                form = BytesParser(policy=email.policy.default).parsebytes(head.encode() + body)
                parts = [
                    (part.get_filename() or "", part.get_payload(decode=True) or b"")
                    for part in form.iter_parts()
                    if part.get_filename()
                ]
                self.store(self.path.rstrip("/"), parts)

            def store(self, directory: str, parts: list[tuple[str, bytes]]) -> None:
                owner.attempts.append(time.monotonic())
                if owner.stall is not None:
                    owner.stalled.set()
                    owner.stall.wait(10)
                owner.authorization.append(self.headers.get("Authorization"))
                if 200 <= owner.status < 300:
                    for name, data in parts:
                        owner.directories.append(directory)
                        owner.files[name] = data
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, directory: str) -> str:
        return f"http://uploader:{HTTP_PASSWORD}@127.0.0.1:{self.port}/{directory}"

    def close(self) -> None:
        if self.stall is not None:
            self.stall.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[FtpServer]:
    root = tmp_path / "ftp"
    (root / "logs").mkdir(parents=True)
    server = FtpServer(root)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def web() -> Iterator[HttpServer]:
    server = HttpServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def events() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
async def engine(
    csms: TestCsms, make_engine: EngineFactory, events: list[tuple[str, dict[str, Any]]]
) -> AsyncIterator[ChargePointEngine]:
    cp = make_engine(csms.url, listener=lambda kind, data: events.append((kind, data)))
    await cp.start()
    await csms.wait_for("SecurityEventNotification")
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
    # Nothing of the charge point's in flight: the ocpp library's CSMS stops reading when a
    # link closes (a new AuthorizationKey) while it still answers a CALL of ours.
    await no_call_in_flight(cp)
    return cp


def stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def statuses(csms: TestCsms, request_id: int | None = None) -> list[str]:
    return [
        p["status"]
        for p in csms.actions(LSN)
        if request_id is None or p.get("request_id") == request_id
    ]


async def final_status(csms: TestCsms, request_id: int, timeout: float = 10) -> str:
    payload = await csms.wait_for(
        LSN,
        lambda p: p.get("request_id") == request_id and p["status"] != "Uploading",
        timeout=timeout,
    )
    return str(payload["status"])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_security_log_to_ftp(
    csms: TestCsms,
    engine: ChargePointEngine,
    ftp: FtpServer,
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    await engine.services.security.record("InvalidFirmwareSignature", "bad signature on 2.0")
    await engine.services.security.record("TamperDetectionActivated")
    before = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    result = await csms.call(
        call.GetLog(log={"remoteLocation": ftp.url("logs")}, log_type="SecurityLog", request_id=7)
    )
    assert result.status == "Accepted"
    assert result.filename.startswith("CP1-security-")
    assert result.filename.endswith("Z-7.log")
    assert result.filename[len("CP1-security-") : -len("Z-7.log")] >= before
    assert await final_status(csms, 7) == "Uploaded"
    assert [(p["status"], p["request_id"]) for p in csms.actions(LSN)] == [
        ("Uploading", 7),
        ("Uploaded", 7),
    ]
    content = (ftp.root / "logs" / result.filename).read_text()
    entries = await engine.services.security.entries()
    assert [e.type for e in entries] == [
        "StartupOfTheDevice",
        "InvalidFirmwareSignature",
        "TamperDetectionActivated",
    ]
    assert content == "".join(e.line() + "\n" for e in entries)
    assert content.splitlines()[1] == (
        f"{entries[1].timestamp} InvalidFirmwareSignature - bad signature on 2.0"
    )
    assert content.splitlines()[2] == f"{entries[2].timestamp} TamperDetectionActivated critical"
    # The password in the location reaches no event (frames included).
    assert any(kind == "frame" and "GetLog" in data["frame"] for kind, data in events)
    assert FTP_PASSWORD not in repr(events)
    request = next(data for kind, data in events if kind == "csms_request")
    assert request["location"] == f"ftp://logs:***@127.0.0.1:{ftp.port}/logs"


async def test_diagnostics_log_over_http_put(
    csms: TestCsms, engine: ChargePointEngine, web: HttpServer
) -> None:
    key = "0123456789abcdef0123"
    result = await csms.call(call.ChangeConfiguration(key="AuthorizationKey", value=key))
    assert result.status == "Accepted"
    async with asyncio.timeout(10):  # the new key means a new connection
        while csms.connection_count < 2 or engine.state != ConnectionState.ACCEPTED:
            await asyncio.sleep(0.02)
    await csms.send_raw("not json at all")
    await asyncio.sleep(0.3)
    result = await csms.call(
        call.GetLog(
            log={"remoteLocation": web.url("upload/")},
            log_type="DiagnosticsLog",
            request_id=12,
        )
    )
    assert result.status == "Accepted"
    assert result.filename.startswith("CP1-diagnostics-")
    assert await final_status(csms, 12) == "Uploaded"
    assert statuses(csms) == ["Uploading", "Uploaded"]
    assert list(web.files) == [result.filename]
    assert web.directories == ["/upload"]
    credentials = base64.b64encode(f"uploader:{HTTP_PASSWORD}".encode()).decode()
    assert web.authorization == [f"Basic {credentials}"]
    text = web.files[result.filename].decode()
    lines = text.splitlines()
    assert lines[0] == "# ocpp_cp diagnostics log of CP1"
    configuration = lines[lines.index("## configuration") + 1 : lines.index("## frames")]
    assert "HeartbeatInterval=300" in configuration
    assert "AuthorizationKey=***" in configuration
    frames = lines[lines.index("## frames") + 1 : lines.index("## log")]
    log = lines[lines.index("## log") + 1 :]
    assert any(" out [2," in line and '"BootNotification"' in line for line in frames)
    assert any(" in [2," in line and '"ChangeConfiguration"' in line for line in frames)
    assert any(" in [2," in line and '"GetLog"' in line for line in frames)
    assert any("Malformed frame from the CSMS" in line for line in log)
    assert key not in text
    assert '"value":"***"' in text
    assert HTTP_PASSWORD not in text
    assert f"uploader:***@127.0.0.1:{web.port}" in text
    assert credentials not in text


async def test_timestamps_select_the_entries(
    csms: TestCsms, engine: ChargePointEngine, ftp: FtpServer
) -> None:
    await engine.services.security.record("InvalidTLSVersion", "early")
    await asyncio.sleep(0.05)
    middle = time.time()
    await asyncio.sleep(0.05)
    await engine.services.security.record("InvalidTLSCipherSuite", "late")
    names = []
    for request_id, window in (
        (1, {"latestTimestamp": stamp(middle)}),
        (2, {"oldestTimestamp": stamp(middle)}),
    ):
        result = await csms.call(
            call.GetLog(
                log={"remoteLocation": ftp.url("logs"), **window},
                log_type="SecurityLog",
                request_id=request_id,
            )
        )
        assert result.status == "Accepted"
        assert await final_status(csms, request_id) == "Uploaded"
        names.append(result.filename)
    early = (ftp.root / "logs" / names[0]).read_text().splitlines()
    late = (ftp.root / "logs" / names[1]).read_text().splitlines()
    assert [line.split()[1] for line in early] == ["StartupOfTheDevice", "InvalidTLSVersion"]
    assert [line.split()[1] for line in late] == ["InvalidTLSCipherSuite"]


async def test_refused_upload_fails_after_the_retries(
    csms: TestCsms, engine: ChargePointEngine, web: HttpServer
) -> None:
    web.status = 403
    result = await csms.call(
        call.GetLog(
            log={"remoteLocation": web.url("denied")},
            log_type="SecurityLog",
            request_id=3,
            retries=2,
            retry_interval=1,
        )
    )
    assert result.status == "Accepted"
    assert await final_status(csms, 3, timeout=15) == "PermissionDenied"
    assert statuses(csms, 3) == ["Uploading", "PermissionDenied"]
    assert len(web.attempts) == 3  # the first try and two retries
    assert web.attempts[1] - web.attempts[0] >= 1.0
    assert web.attempts[2] - web.attempts[1] >= 1.0
    assert web.files == {}


@pytest.mark.parametrize(
    ("http_status", "final"),
    [(400, "BadMessage"), (501, "NotSupportedOperation"), (500, "UploadFailure")],
)
async def test_how_the_upload_failed_is_the_final_status(
    csms: TestCsms, engine: ChargePointEngine, web: HttpServer, http_status: int, final: str
) -> None:
    """The whitepaper's UploadLogStatus says why: a protocol error, an operation the server
    does not do, or (anything else) UploadFailure."""
    web.status = http_status
    await csms.call(
        call.GetLog(
            log={"remoteLocation": web.url("x")}, log_type="SecurityLog", request_id=5, retries=0
        )
    )
    assert await final_status(csms, 5) == final
    assert statuses(csms, 5) == ["Uploading", final]


async def test_wrong_ftp_password_is_permission_denied(
    csms: TestCsms, engine: ChargePointEngine, ftp: FtpServer
) -> None:
    location = ftp.url("logs").replace(FTP_PASSWORD, "not-the-password")
    await csms.call(
        call.GetLog(
            log={"remoteLocation": location}, log_type="SecurityLog", request_id=6, retries=0
        )
    )
    assert await final_status(csms, 6) == "PermissionDenied"


async def test_unreachable_location_fails(csms: TestCsms, engine: ChargePointEngine) -> None:
    port = closed_port()
    for request_id, location in (
        (4, f"ftp://127.0.0.1:{port}/x"),
        (5, f"http://127.0.0.1:{port}/x"),
    ):
        result = await csms.call(
            call.GetLog(
                log={"remoteLocation": location},
                log_type="DiagnosticsLog",
                request_id=request_id,
                retries=1,
                retry_interval=0,
            )
        )
        assert result.status == "Accepted"
        assert await final_status(csms, request_id) == "UploadFailure"
        assert statuses(csms, request_id) == ["Uploading", "UploadFailure"]


async def test_unsupported_location_is_rejected(csms: TestCsms, engine: ChargePointEngine) -> None:
    for location in ("sftp://127.0.0.1/logs", "no location", "http:///nohost", "http://[::1"):
        result = await csms.call(
            call.GetLog(log={"remoteLocation": location}, log_type="SecurityLog", request_id=9)
        )
        assert result.status == "Rejected"
        assert result.filename is None
    await asyncio.sleep(0.2)
    assert statuses(csms) == []


async def test_a_new_get_log_cancels_the_running_one(
    csms: TestCsms, engine: ChargePointEngine, web: HttpServer, ftp: FtpServer
) -> None:
    trigger = call.ExtendedTriggerMessage(requested_message="LogStatusNotification")
    assert (await csms.call(trigger)).status == "Accepted"
    idle = await csms.wait_for(LSN)
    assert idle == {"status": "Idle"}  # no upload: no requestId either

    web.stall = threading.Event()
    result = await csms.call(
        call.GetLog(log={"remoteLocation": web.url("slow")}, log_type="SecurityLog", request_id=1)
    )
    assert result.status == "Accepted"
    async with asyncio.timeout(15):
        while not web.stalled.is_set():
            await asyncio.sleep(0.02)
    mark = len(csms.received)
    assert (await csms.call(trigger)).status == "Accepted"
    uploading = await csms.wait_for(LSN, after=mark)
    assert uploading == {"status": "Uploading", "request_id": 1}

    result = await csms.call(
        call.GetLog(log={"remoteLocation": ftp.url("logs")}, log_type="SecurityLog", request_id=2)
    )
    assert result.status == "AcceptedCanceled"
    assert await final_status(csms, 2) == "Uploaded"
    web.stall.set()
    await asyncio.sleep(0.5)
    assert statuses(csms, 1) == ["Uploading", "Uploading"]  # the second is the triggered one
    assert statuses(csms, 2) == ["Uploading", "Uploaded"]
    mark = len(csms.received)
    assert (await csms.call(trigger)).status == "Accepted"
    assert await csms.wait_for(LSN, after=mark) == {"status": "Idle"}
