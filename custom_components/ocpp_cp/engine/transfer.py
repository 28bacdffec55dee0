"""File transfer for diagnostics, logs and firmware: ftp://, ftps://, http://, https://.

MINIMAL VERSION on the issue-secevents branch (the full one is owned by another branch and
replaces this file at merge): the documented API only, standard library only, FTP STOR/RETR
and HTTP PUT/GET. Retries are the caller's job.
"""

from __future__ import annotations

import asyncio
import base64
import ftplib
import hashlib
import http.client
import io
import pathlib
import re
import ssl
from urllib.parse import quote, unquote, urlsplit


class TransferError(Exception):
    """A transfer failed; str() is safe to log (no credentials in it)."""


_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^/@\s]*@")


def safe_location(location: str) -> str:
    """`location` with any password replaced by `***`, for logs and events."""
    return _PASSWORD.sub(r"\1***@", location)


def _ftp(
    scheme: str, host: str, port: int | None, ctx: ssl.SSLContext | None, timeout: float
) -> ftplib.FTP:
    if scheme == "ftps":
        context = ctx or ssl.create_default_context()
        ftp: ftplib.FTP = ftplib.FTP_TLS(context=context, timeout=timeout)
    else:
        ftp = ftplib.FTP(timeout=timeout)
    ftp.connect(host, port or 21)
    return ftp


def _login(ftp: ftplib.FTP, user: str | None, password: str | None) -> None:
    ftp.login(unquote(user) if user else "anonymous", unquote(password) if password else "")
    if isinstance(ftp, ftplib.FTP_TLS):
        ftp.prot_p()


def _upload_blocking(
    location: str, filename: str, data: bytes, ctx: ssl.SSLContext | None, timeout: float
) -> None:
    url = urlsplit(location)
    if url.scheme in ("ftp", "ftps"):
        ftp = _ftp(url.scheme, url.hostname or "", url.port, ctx, timeout)
        try:
            _login(ftp, url.username, url.password)
            directory = unquote(url.path)
            if directory not in ("", "/"):
                ftp.cwd(directory)
            ftp.storbinary(f"STOR {filename}", io.BytesIO(data))
        finally:
            ftp.close()
        return
    if url.scheme in ("http", "https"):
        connection = (
            http.client.HTTPSConnection(url.hostname or "", url.port, timeout=timeout, context=ctx)
            if url.scheme == "https"
            else http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
        )
        path = url.path if url.path.endswith("/") else url.path + "/"
        headers = {"Content-Type": "application/octet-stream"}
        if url.username:
            token = f"{unquote(url.username)}:{unquote(url.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        try:
            connection.request("PUT", path + quote(filename), body=data, headers=headers)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise TransferError(f"HTTP {response.status} from {safe_location(location)}")
        return
    raise TransferError(f"unsupported scheme {url.scheme!r}")


async def upload(
    location: str,
    filename: str,
    data: bytes,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109 - the documented API: a socket timeout
) -> None:
    """Store `data` as `filename` under the directory URL `location`
    (ftp://, ftps://, http://, https://; user:password in the URL allowed). Raises TransferError."""
    try:
        await asyncio.get_running_loop().run_in_executor(
            None, _upload_blocking, location, filename, data, ssl_context, timeout
        )
    except TransferError:
        raise
    except (OSError, ftplib.Error, http.client.HTTPException, ValueError, EOFError) as err:
        raise TransferError(
            f"upload to {safe_location(location)} failed: {type(err).__name__}"
        ) from None


def _download_blocking(
    location: str, destination: pathlib.Path, ctx: ssl.SSLContext | None, timeout: float
) -> str:
    url = urlsplit(location)
    digest = hashlib.sha256()
    with destination.open("wb") as sink:

        def write(chunk: bytes) -> None:
            digest.update(chunk)
            sink.write(chunk)

        if url.scheme in ("ftp", "ftps"):
            ftp = _ftp(url.scheme, url.hostname or "", url.port, ctx, timeout)
            try:
                _login(ftp, url.username, url.password)
                ftp.retrbinary(f"RETR {unquote(url.path)}", write)
            finally:
                ftp.close()
        elif url.scheme in ("http", "https"):
            connection = (
                http.client.HTTPSConnection(
                    url.hostname or "", url.port, timeout=timeout, context=ctx
                )
                if url.scheme == "https"
                else http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
            )
            try:
                connection.request("GET", url.path or "/")
                response = connection.getresponse()
                if response.status != 200:
                    raise TransferError(f"HTTP {response.status} from {safe_location(location)}")
                while chunk := response.read(65536):
                    write(chunk)
            finally:
                connection.close()
        else:
            raise TransferError(f"unsupported scheme {url.scheme!r}")
    return digest.hexdigest()


async def download(
    location: str,
    destination: pathlib.Path,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 300.0,  # noqa: ASYNC109 - the documented API: a socket timeout
) -> str:
    """Fetch the file URL `location` into `destination`; returns its sha256 hex digest.
    Raises TransferError."""
    try:
        return await asyncio.get_running_loop().run_in_executor(
            None, _download_blocking, location, destination, ssl_context, timeout
        )
    except TransferError:
        raise
    except (OSError, ftplib.Error, http.client.HTTPException, ValueError, EOFError) as err:
        raise TransferError(
            f"download from {safe_location(location)} failed: {type(err).__name__}"
        ) from None
