"""File transfers for GetDiagnostics, UpdateFirmware and their signed variants.

Standard library only (ftplib, http.client through urllib), run in a worker thread so the event
loop never blocks. Schemes:

- ``ftp://`` and ``ftps://`` (explicit TLS: AUTH TLS, then ``PROT P`` for the data channel),
  passive mode, ``user:password@`` in the URL or anonymous.
- ``http://`` and ``https://``: an upload is an HTTP ``PUT`` of the file to
  ``location/filename`` (what EVerest's uploader does with ``curl -T``); a server that answers
  405 Method Not Allowed gets a ``POST`` of ``multipart/form-data`` with the file in a ``file``
  field to ``location`` instead. A download is a ``GET``. ``user:password@`` in the URL becomes
  HTTP Basic authentication.

Retries are the caller's job. Every error message goes through ``safe_location``: a password in
the URL never reaches a log, an event or an exception.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ftplib
import hashlib
import http.client
import io
import logging
import os
import pathlib
import ssl
import urllib.error
import urllib.request
import urllib.response
import uuid
from collections.abc import Awaitable, Callable
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["TransferError", "check_location", "download", "safe_location", "upload"]

_CHUNK = 64 * 1024
_SCHEMES = ("ftp", "ftps", "http", "https")


class TransferError(Exception):
    """A transfer failed; str() is safe to log (no credentials in it). ``kind`` says how, in
    the words of the security whitepaper's upload statuses: ``permission_denied`` (login or
    write refused), ``not_supported`` (the server does not do this operation), ``bad_message``
    (a protocol error), else ``failed``."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind


def _failure_kind(err: BaseException) -> str:
    if isinstance(err, ftplib.error_perm):
        code = str(err)[:3]
        if code in ("530", "532", "550", "553"):
            return "permission_denied"
        if code in ("502", "504"):
            return "not_supported"
        return "bad_message" if code in ("500", "501") else "failed"
    if isinstance(err, ftplib.error_proto | http.client.BadStatusLine):
        return "bad_message"
    if isinstance(err, urllib.error.HTTPError):
        if err.code in (401, 403):
            return "permission_denied"
        if err.code in (405, 501):
            return "not_supported"
        return "bad_message" if err.code == 400 else "failed"
    return "failed"


def safe_location(location: str) -> str:
    """`location` with any password replaced by `***`, for logs and events."""
    try:
        parts = urlsplit(location)
        if parts.password is None:
            return location
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username or ''}:***@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:  # an unparsable URL: keep the scheme only
        return location.split(":", 1)[0] + "://***"


def check_location(location: str) -> None:
    """Raise TransferError unless ``location`` is a URL these transfers can use (a supported
    scheme and a host): what a request is refused for before anything runs."""
    _Target(location)


class _Target:
    """A parsed location: what the transfer functions need, with the secret kept apart."""

    def __init__(self, location: str) -> None:
        self.safe = safe_location(location)
        try:
            parts = urlsplit(location)
            port = parts.port
        except ValueError:
            raise TransferError(f"not a valid URL: {self.safe}") from None
        if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
            raise TransferError(f"unsupported location (ftp, ftps, http, https): {self.safe}")
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname
        self.port = port
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.path = unquote(parts.path)
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if port is None else f"{host}:{port}"
        # The URL without credentials, what urllib is given.
        self.bare_url = urlunsplit((self.scheme, netloc, parts.path, parts.query, ""))

    def error(self, what: str, err: BaseException) -> TransferError:
        """``what`` failed because of ``err``; never holds the password."""
        reason = str(err) or type(err).__name__
        if self.password:
            reason = reason.replace(self.password, "***")
        return TransferError(f"{what} {self.safe} failed: {reason}", _failure_kind(err))

    def basic_auth(self) -> str | None:
        if self.user is None:
            return None
        token = f"{self.user}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(token).decode()


# -- FTP --------------------------------------------------------------------------------------


def _ftp_open(target: _Target, ssl_context: ssl.SSLContext | None, timeout: float) -> ftplib.FTP:
    ftp: ftplib.FTP
    if target.scheme == "ftps":
        context = ssl_context or ssl.create_default_context()
        ftp = ftplib.FTP_TLS(context=context, timeout=timeout)
    else:
        ftp = ftplib.FTP(timeout=timeout)
    try:
        ftp.connect(target.host, target.port or 21)
        ftp.login(target.user or "anonymous", target.password or "")
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        ftp.set_pasv(True)
    except BaseException:
        ftp.close()
        raise
    return ftp


def _ftp_upload(
    target: _Target,
    filename: str,
    data: bytes,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
) -> None:
    ftp = _ftp_open(target, ssl_context, timeout)
    try:
        directory = target.path
        if directory and directory != "/":
            ftp.cwd(directory)
        ftp.storbinary(f"STOR {filename}", io.BytesIO(data))
        with contextlib.suppress(*ftplib.all_errors):
            ftp.quit()
    finally:
        ftp.close()


def _ftp_download(
    target: _Target, destination: pathlib.Path, ssl_context: ssl.SSLContext | None, timeout: float
) -> str:
    ftp = _ftp_open(target, ssl_context, timeout)
    try:
        with _Sink(destination) as sink:
            ftp.retrbinary(f"RETR {target.path}", sink.write, blocksize=_CHUNK)
            digest = sink.commit()
        with contextlib.suppress(*ftplib.all_errors):
            ftp.quit()
        return digest
    finally:
        ftp.close()


# -- HTTP -------------------------------------------------------------------------------------


def _http_open(
    target: _Target,
    request: urllib.request.Request,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
) -> urllib.response.addinfourl:
    auth = target.basic_auth()
    if auth is not None:  # unredirected: a redirect to another host must not get the password
        request.add_unredirected_header("Authorization", auth)
    context = ssl_context if target.scheme == "https" else None
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    response: urllib.response.addinfourl = opener.open(request, timeout=timeout)
    return response


def _http_upload(
    target: _Target,
    filename: str,
    data: bytes,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
) -> None:
    file_url = target.bare_url.rstrip("/") + "/" + quote(filename)
    put = urllib.request.Request(
        file_url,
        data=data,
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    try:
        with _http_open(target, put, ssl_context, timeout):
            return
    except urllib.error.HTTPError as err:
        err.close()
        if err.code != 405:
            raise
    boundary = uuid.uuid4().hex
    safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    body = b"".join(
        (
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'.encode(),
            b"Content-Type: application/octet-stream\r\n\r\n",
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    post = urllib.request.Request(
        target.bare_url,
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with _http_open(target, post, ssl_context, timeout):
        return


def _http_download(
    target: _Target, destination: pathlib.Path, ssl_context: ssl.SSLContext | None, timeout: float
) -> str:
    request = urllib.request.Request(target.bare_url, method="GET")
    with _http_open(target, request, ssl_context, timeout) as response, _Sink(destination) as sink:
        received = 0
        while chunk := response.read(_CHUNK):
            sink.write(chunk)
            received += len(chunk)
        # read(amt) answers b"" when the connection closes early (only a chunked body raises
        # IncompleteRead): a body shorter than its Content-Length is a failed download.
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.isdigit() and received < int(announced):
            raise http.client.IncompleteRead(b"", int(announced) - received)
        return sink.commit()


class _Sink:
    """Writes to ``destination`` through a temporary file, renamed into place only once the
    whole file arrived (a failed download leaves nothing half-written behind)."""

    def __init__(self, destination: pathlib.Path) -> None:
        self.destination = destination
        self.partial = destination.with_name(destination.name + ".part")
        self.sha256 = hashlib.sha256()
        self._file: BinaryIO | None = None

    def __enter__(self) -> _Sink:
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.partial, "wb")
        return self

    def write(self, chunk: bytes) -> None:
        assert self._file is not None
        self._file.write(chunk)
        self.sha256.update(chunk)

    def commit(self) -> str:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.destination)
        return self.sha256.hexdigest()

    def __exit__(self, *exc: object) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()


_LOGGER = logging.getLogger(__name__)

# -- the API ----------------------------------------------------------------------------------

# http.client.HTTPException: IncompleteRead, BadStatusLine and the like are neither OSError
# nor ValueError, and urllib lets them through.
_FAILURES = (
    OSError,
    EOFError,
    ftplib.Error,
    urllib.error.URLError,
    http.client.HTTPException,
    ValueError,
)


async def upload(
    location: str,
    filename: str,
    data: bytes,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109 - it bounds the worker thread, not this coroutine
) -> None:
    """Store `data` as `filename` under the directory URL `location`
    (ftp://, ftps://, http://, https://; user:password in the URL allowed). Raises TransferError."""
    target = _Target(location)
    if not filename or "/" in filename or filename in (".", ".."):
        raise TransferError(f"not a plain file name: {filename!r}")
    run = _ftp_upload if target.scheme in ("ftp", "ftps") else _http_upload
    try:
        await asyncio.to_thread(run, target, filename, data, ssl_context, timeout)
    except _FAILURES as err:
        raise target.error("upload to", err) from None


async def download(
    location: str,
    destination: pathlib.Path,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 300.0,  # noqa: ASYNC109 - it bounds the worker thread
) -> str:
    """Fetch the file URL `location` into `destination`; returns its sha256 hex digest. Raises
    TransferError."""
    target = _Target(location)
    run = _ftp_download if target.scheme in ("ftp", "ftps") else _http_download
    try:
        return await asyncio.to_thread(run, target, destination, ssl_context, timeout)
    except _FAILURES as err:
        raise target.error("download from", err) from None


def trust_context(ca_file: str | None) -> ssl.SSLContext:
    """The trust store for ftps/https transfers: the system's roots plus the CSMS CA file.
    Blocking (reads files): call it from an executor."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as err:
            _LOGGER.warning("CA file for transfers not usable: %s", err)
    return context


async def attempts[T](
    what: str, run: Callable[[], Awaitable[T]], retries: int, interval: float
) -> T:
    """``run`` up to ``1 + retries`` times, ``interval`` s apart, as GetDiagnostics, GetLog
    and UpdateFirmware ask; the last TransferError when every attempt failed (each failure
    logged, without credentials: TransferError texts carry none)."""
    for attempt in range(1, retries + 2):
        try:
            return await run()
        except TransferError as err:
            _LOGGER.warning("%s attempt %d of %d failed: %s", what, attempt, retries + 1, err)
            if attempt > retries:
                raise
        await asyncio.sleep(interval)
    raise AssertionError("unreachable: the last attempt returns or raises")
