"""engine/transfer.py against real FTP, FTPS and HTTP(S) servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
import ssl
from pathlib import Path

import pytest

from custom_components.ocpp_cp.engine.transfer import (
    TransferError,
    attempts,
    check_location,
    download,
    safe_location,
    upload,
)

from .file_servers import FTP_PASSWORD, READONLY_USER, ftp_server, http_server
from .tls import make_pki

pytestmark = pytest.mark.timeout(30)

PAYLOAD = b"diagnostics \x00\x01\x02" * 5000


def _client_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_safe_location_hides_the_password() -> None:
    assert safe_location("ftp://u:p%40ss@h:21/x") == "ftp://u:***@h:21/x"
    assert safe_location("https://h/x") == "https://h/x"
    assert "secret" not in safe_location("ftp://user:secret@[::1]/a")


async def test_ftp_upload_and_download(tmp_path: Path) -> None:
    with ftp_server(tmp_path / "ftp") as server:
        (tmp_path / "ftp" / "in").mkdir()
        await upload(server.url("/in/"), "diag.zip", PAYLOAD)
        assert (tmp_path / "ftp" / "in" / "diag.zip").read_bytes() == PAYLOAD
        digest = await download(server.url("/in/diag.zip"), tmp_path / "got" / "fw.bin")
    assert (tmp_path / "got" / "fw.bin").read_bytes() == PAYLOAD
    assert digest == hashlib.sha256(PAYLOAD).hexdigest()


async def test_ftps_upload_and_download(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    context = _client_context(pki.ca_file)
    with ftp_server(tmp_path / "ftp", pki) as server:
        await upload(server.url("/"), "diag.zip", PAYLOAD, ssl_context=context)
        assert (tmp_path / "ftp" / "diag.zip").read_bytes() == PAYLOAD
        digest = await download(server.url("/diag.zip"), tmp_path / "fw.bin", ssl_context=context)
        assert digest == hashlib.sha256(PAYLOAD).hexdigest()
        # A server certificate the charge point does not trust is refused.
        with pytest.raises(TransferError) as caught:
            await upload(server.url("/"), "x.zip", b"x")
    assert FTP_PASSWORD not in str(caught.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


async def test_ftp_refused_upload_wrong_password_and_missing_file(tmp_path: Path) -> None:
    with ftp_server(tmp_path / "ftp") as server:
        with pytest.raises(TransferError) as refused:
            await upload(server.url("/", user=READONLY_USER), "diag.zip", PAYLOAD)
        assert "550" in str(refused.value)
        assert not (tmp_path / "ftp" / "diag.zip").exists()
        with pytest.raises(TransferError) as wrong:
            await upload(server.url("/", password="wrong-password-123"), "d.zip", PAYLOAD)
        assert "530" in str(wrong.value)
        assert "wrong-password-123" not in str(wrong.value)
        with pytest.raises(TransferError) as missing:
            await download(server.url("/nothing.bin"), tmp_path / "out.bin")
        assert "550" in str(missing.value)
    assert not (tmp_path / "out.bin").exists()
    assert not (tmp_path / "out.bin.part").exists()
    for error in (refused.value, wrong.value, missing.value):
        assert FTP_PASSWORD not in str(error)
        assert ":***@" in str(error)


async def test_unreachable_location(tmp_path: Path) -> None:
    port = _free_port()
    for url in (
        f"ftp://u:{FTP_PASSWORD}@127.0.0.1:{port}/",
        f"http://u:{FTP_PASSWORD}@127.0.0.1:{port}/",
    ):
        with pytest.raises(TransferError) as caught:
            await upload(url, "d.zip", b"x", timeout=5)
        assert "refused" in str(caught.value).lower()
        assert FTP_PASSWORD not in str(caught.value)


async def test_unsupported_scheme_and_bad_name() -> None:
    with pytest.raises(TransferError, match="unsupported"):
        await upload("file:///etc/", "d.zip", b"x")
    with pytest.raises(TransferError, match="plain file name"):
        await upload("ftp://127.0.0.1/", "../d.zip", b"x")


async def test_http_put_with_basic_auth(tmp_path: Path) -> None:
    with http_server(user="cp", password=FTP_PASSWORD) as server:
        await upload(server.url("/upload/"), "diag 1.zip", PAYLOAD)
        assert server.files["/upload/diag%201.zip"] == PAYLOAD
        method, _, headers = server.requests[-1]
        assert method == "PUT"
        server.files["/fw.bin"] = PAYLOAD
        digest = await download(server.url("/fw.bin"), tmp_path / "fw.bin")
        assert digest == hashlib.sha256(PAYLOAD).hexdigest()
        with pytest.raises(TransferError) as unauthorised:
            await upload(server.url("/upload/", credentials=False), "d.zip", PAYLOAD)
        assert "401" in str(unauthorised.value)


async def test_http_falls_back_to_multipart_post_on_405() -> None:
    with http_server(put_allowed=False) as server:
        await upload(server.url("/upload"), "diag.zip", PAYLOAD)
        assert [r[0] for r in server.requests] == ["PUT", "POST"]
        assert server.files["/upload/diag.zip"] == PAYLOAD
        assert server.requests[-1][2]["Content-Type"].startswith("multipart/form-data")


async def test_http_refused_upload_and_404(tmp_path: Path) -> None:
    with http_server(writable=False, user="cp", password=FTP_PASSWORD) as server:
        with pytest.raises(TransferError) as refused:
            await upload(server.url("/up/"), "d.zip", PAYLOAD)
        assert "403" in str(refused.value)
        with pytest.raises(TransferError) as missing:
            await download(server.url("/none.bin"), tmp_path / "none.bin")
        assert "404" in str(missing.value)
    assert not (tmp_path / "none.bin").exists()
    for error in (refused.value, missing.value):
        assert FTP_PASSWORD not in str(error)


async def test_https_download(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with http_server(pki) as server:
        server.files["/fw.bin"] = PAYLOAD
        digest = await download(
            server.url("/fw.bin"), tmp_path / "fw.bin", ssl_context=_client_context(pki.ca_file)
        )
        assert digest == hashlib.sha256(PAYLOAD).hexdigest()
        await upload(server.url("/"), "d.zip", b"abc", ssl_context=_client_context(pki.ca_file))
        assert server.files["/d.zip"] == b"abc"


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("short", "failed"), ("chunked_short", "failed"), ("bad_status", "bad_message")],
)
async def test_http_download_cut_short_or_garbled_is_a_transfer_error(
    tmp_path: Path, fault: str, kind: str
) -> None:
    """A body shorter than its Content-Length is not a complete file; http.client's own
    errors (IncompleteRead, BadStatusLine) are failed attempts like any other."""
    with http_server(fault=fault) as server:
        server.files["/fw.bin"] = PAYLOAD
        with pytest.raises(TransferError) as caught:
            await download(server.url("/fw.bin"), tmp_path / "fw.bin", timeout=5)
    assert caught.value.kind == kind
    assert not (tmp_path / "fw.bin").exists()
    assert not (tmp_path / "fw.bin.part").exists()


async def test_attempts_retries_an_http_client_error(tmp_path: Path) -> None:
    calls = 0
    with http_server(fault="bad_status") as server:
        server.files["/fw.bin"] = PAYLOAD

        async def run() -> str:
            nonlocal calls
            calls += 1
            return await download(server.url("/fw.bin"), tmp_path / "fw.bin", timeout=5)

        with pytest.raises(TransferError):
            await attempts("Firmware download", run, 2, 0)
    assert calls == 3


async def test_redirect_to_another_server_gets_no_credentials(tmp_path: Path) -> None:
    with http_server() as other, http_server(user="cp", password=FTP_PASSWORD) as first:
        other.files["/fw.bin"] = PAYLOAD
        first.redirect = other.url("", credentials=False)
        digest = await download(first.url("/fw.bin"), tmp_path / "fw.bin")
        assert digest == hashlib.sha256(PAYLOAD).hexdigest()
        assert "Authorization" in first.requests[0][2]  # the server it was meant for
        assert [(method, path) for method, path, _ in other.requests] == [("GET", "/fw.bin")]
        assert "Authorization" not in other.requests[0][2]


def test_check_location() -> None:
    check_location("ftp://u:p@127.0.0.1/x")
    for location in ("http://[::1", "sftp://h/x", "http:///nohost", "no location"):
        with pytest.raises(TransferError):
            check_location(location)
