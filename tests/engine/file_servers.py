"""Real file servers on 127.0.0.1 for the transfer tests: FTP/FTPS (pyftpdlib) and HTTP.

Each runs in a daemon thread on an ephemeral port and is closed by its context manager.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pyftpdlib.authorizers import DummyAuthorizer  # type: ignore[import-untyped]
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler  # type: ignore[import-untyped]
from pyftpdlib.servers import ThreadedFTPServer  # type: ignore[import-untyped]

from .tls import Pki

FTP_USER = "diag"
FTP_PASSWORD = "s3cr3t-pa55"  # checked never to leak into errors
READONLY_USER = "reader"


@dataclass
class FtpServer:
    root: Path
    port: int
    scheme: str

    def url(self, path: str = "/", *, user: str = FTP_USER, password: str = FTP_PASSWORD) -> str:
        host = "localhost" if self.scheme == "ftps" else "127.0.0.1"  # the certificate's name
        return f"{self.scheme}://{user}:{password}@{host}:{self.port}{path}"


@contextlib.contextmanager
def ftp_server(root: Path, pki: Pki | None = None) -> Iterator[FtpServer]:
    """An FTP server (FTPS with explicit TLS and a protected data channel when ``pki``)."""
    root.mkdir(parents=True, exist_ok=True)
    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm="elradfmw")
    authorizer.add_user(READONLY_USER, FTP_PASSWORD, str(root), perm="elr")
    handler: type[FTPHandler]
    if pki is not None:

        class Tls(TLS_FTPHandler):  # type: ignore[misc]
            certfile = str(pki.server_cert)
            keyfile = str(pki.server_key)
            tls_control_required = True
            tls_data_required = True

        handler = Tls
    else:

        class Plain(FTPHandler):  # type: ignore[misc]
            pass

        handler = Plain
    handler.authorizer = authorizer
    handler.passive_ports = None
    handler.timeout = 30
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    try:
        yield FtpServer(root, port, "ftps" if pki is not None else "ftp")
    finally:
        server.close_all()
        thread.join(timeout=5)


@dataclass
class HttpServer:
    port: int
    scheme: str = "http"
    # path -> body for GET; what PUT/POST stored lands here as well.
    files: dict[str, bytes] = field(default_factory=dict)
    # Requests seen: (method, path, headers).
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    put_allowed: bool = True
    writable: bool = True
    user: str | None = None
    password: str | None = None
    # When set, uploads wait for it (to observe a transfer in progress).
    hold: threading.Event | None = None
    # How a GET of a known file goes wrong: "short" (a Content-Length 100 bytes longer than
    # the body, then the connection closes), "chunked_short" (a chunked body cut inside a
    # chunk), "bad_status" (a status line that is not HTTP); None serves it.
    fault: str | None = None
    # When set, a GET answers 302 with this base URL + the path (another server).
    redirect: str | None = None

    def url(self, path: str = "/", *, credentials: bool = True) -> str:
        auth = f"{self.user}:{self.password}@" if credentials and self.user else ""
        host = "localhost" if self.scheme == "https" else "127.0.0.1"  # the certificate's name
        return f"{self.scheme}://{auth}{host}:{self.port}{path}"


def _handler(state: HttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _authorised(self) -> bool:
            self.server_state.requests.append((self.command, self.path, dict(self.headers.items())))
            if state.user is None:
                return True
            token = base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
            if self.headers.get("Authorization") == f"Basic {token}":
                return True
            self._answer(401)
            return False

        @property
        def server_state(self) -> HttpServer:
            return state

        def _answer(self, code: int, body: bytes = b"") -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if state.redirect is not None:
                self.send_response(302)
                self.send_header("Location", state.redirect + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = state.files.get(self.path)
            if body is None:
                self._answer(404, b"not found")
            elif state.fault is not None:
                self._fail(state.fault, body)
            else:
                self._answer(200, body)

        def _fail(self, fault: str, body: bytes) -> None:
            self.close_connection = True
            if fault == "bad_status":
                self.wfile.write(b"SURPRISE\r\n\r\n")
                return
            self.send_response(200)
            if fault == "short":
                self.send_header("Content-Length", str(len(body) + 100))
                self.end_headers()
                self.wfile.write(body)
            else:  # chunked_short: announces 0x100 bytes in a chunk and sends 3
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(b"%x\r\n%s\r\n100\r\nabc" % (len(body), body))

        def do_PUT(self) -> None:
            body = self._body()
            if not self._authorised():
                return
            if state.hold is not None:
                state.hold.wait(10)
            if not state.put_allowed:
                self._answer(405)
            elif not state.writable:
                self._answer(403)
            else:
                state.files[self.path] = body
                self._answer(201)

        def do_POST(self) -> None:
            body = self._body()
            if not self._authorised():
                return
            if not state.writable:
                self._answer(403)
                return
            content_type = self.headers.get("Content-Type", "")
            boundary = content_type.partition("boundary=")[2].encode()
            for part in body.split(b"--" + boundary):
                head, _, content = part.partition(b"\r\n\r\n")
                if b'name="file"' in head:
                    name = head.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
                    state.files[self.path.rstrip("/") + "/" + name] = content.removesuffix(b"\r\n")
            self._answer(200)

    return Handler


@contextlib.contextmanager
def http_server(pki: Pki | None = None, **options: Any) -> Iterator[HttpServer]:
    """An HTTP (HTTPS when ``pki``) server that stores PUT/POST uploads and serves GETs."""
    state = HttpServer(port=0, **options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    if pki is not None:
        server.socket = pki.server_context().wrap_socket(server.socket, server_side=True)
        state.scheme = "https"
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
