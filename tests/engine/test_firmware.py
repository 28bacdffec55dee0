"""UpdateFirmware / SignedUpdateFirmware against a real CSMS and real HTTP/FTP servers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ChargePointEngine, ConnectionState, pki
from custom_components.ocpp_cp.engine.firmware_signature import (
    CertificateProblem,
    check_signing_certificate,
)
from tests.csms import TestCsms

from .conftest import EngineFactory, RecordingHardware
from .file_servers import FTP_PASSWORD, ftp_server, http_server
from .firmware_pki import Signer, make_root, make_signer
from .test_core import accepted_engine, wait_state

pytestmark = pytest.mark.timeout(60)

FIRMWARE = b"\x7fELF firmware image " * 4096
FINAL = ("DownloadFailed", "Installed", "InstallationFailed", "InvalidSignature")


class Installer(RecordingHardware):
    """Records what it is asked to install; installs (True) unless told to fail."""

    def __init__(self, succeed: bool = True) -> None:
        super().__init__()
        self.succeed = succeed
        self.installed: list[tuple[bytes, str]] = []
        self.release: asyncio.Event | None = None

    async def install_firmware(self, path: str, sha256: str) -> bool:
        if self.release is not None:
            await self.release.wait()
        self.installed.append((Path(path).read_bytes(), sha256))
        return self.succeed


def now_iso(offset: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")


def fw_statuses(
    csms: TestCsms, after: int = 0, action: str = "FirmwareStatusNotification"
) -> list[str]:
    return [r.payload["status"] for r in csms.received[after:] if r.action == action]


async def wait_fw_final(
    csms: TestCsms,
    after: int = 0,
    action: str = "FirmwareStatusNotification",
    timeout: float = 20,
) -> list[str]:
    await csms.wait_for(action, lambda p: p["status"] in FINAL, after=after, timeout=timeout)
    return fw_statuses(csms, after, action)


def security_events(engine: ChargePointEngine) -> list[tuple[str, str | None]]:
    seen: list[tuple[str, str | None]] = []
    engine.ctx.security_sink = lambda kind, info: seen.append((kind, info))
    return seen


async def test_update_downloads_installs_and_reports_each_step(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    hardware = Installer()
    engine = await accepted_engine(
        csms, make_engine, hardware=hardware, queue_path=str(tmp_path / "q.sqlite3")
    )
    events = security_events(engine)
    with http_server() as server:
        server.files["/fw/image%20v2.bin"] = FIRMWARE
        mark = len(csms.received)
        answer = await csms.call(
            call.UpdateFirmware(location=server.url("/fw/image%20v2.bin"), retrieve_date=now_iso())
        )
        assert answer is not None
        assert await wait_fw_final(csms, mark) == [
            "Downloading",
            "Downloaded",
            "Installing",
            "Installed",
        ]
    digest = hashlib.sha256(FIRMWARE).hexdigest()
    assert hardware.installed == [(FIRMWARE, digest)]
    assert (tmp_path / "q.files" / "image_v2.bin").read_bytes() == FIRMWARE
    assert events == [("FirmwareUpdated", f"sha256 {digest}")]
    # The connectors were Unavailable during the installation and Available again after it.
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 1 and p["status"] == "Available",
        after=mark,
    )
    connector_statuses = [
        r.payload["status"]
        for r in csms.received[mark:]
        if r.action == "StatusNotification" and r.payload["connector_id"] == 1
    ]
    assert connector_statuses == ["Unavailable", "Available"]
    assert await engine.journal.load_document("firmware_update") is None
    mark = len(csms.received)
    await csms.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    await csms.wait_for("FirmwareStatusNotification", after=mark)
    assert fw_statuses(csms, mark) == ["Idle"]


async def test_a_charger_that_cannot_install_reports_installation_failed(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    engine = await accepted_engine(csms, make_engine)  # RecordingHardware: NullHardware's False
    events = security_events(engine)
    with ftp_server(tmp_path / "ftp") as server:
        (tmp_path / "ftp" / "fw.bin").write_bytes(FIRMWARE)
        mark = len(csms.received)
        await csms.call(
            call.UpdateFirmware(location=server.url("/fw.bin"), retrieve_date=now_iso())
        )
        assert await wait_fw_final(csms, mark) == [
            "Downloading",
            "Downloaded",
            "Installing",
            "InstallationFailed",
        ]
    assert events == []


async def test_download_404_is_retried_then_download_failed(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    hardware = Installer()
    events: list[tuple[str, dict[str, Any]]] = []
    await accepted_engine(
        csms, make_engine, hardware=hardware, listener=lambda k, d: events.append((k, d))
    )
    with http_server(user="fw", password=FTP_PASSWORD) as server:
        mark = len(csms.received)
        await csms.call(
            call.UpdateFirmware(
                location=server.url("/missing.bin"),
                retrieve_date=now_iso(),
                retries=2,
                retry_interval=0,
            )
        )
        assert await wait_fw_final(csms, mark) == ["Downloading", "DownloadFailed"]
        assert [r[0] for r in server.requests] == ["GET", "GET", "GET"]
    assert hardware.installed == []
    assert FTP_PASSWORD not in repr(events)
    assert ("firmware_status", {"status": "DownloadFailed"}) in events


@contextlib.asynccontextmanager
async def downloaded_during_a_transaction(
    csms: TestCsms, make_engine: EngineFactory
) -> AsyncIterator[tuple[ChargePointEngine, Installer, int]]:
    """A transaction runs on connector 1 and a plain UpdateFirmware has Downloaded its file
    (served while the block runs); the engine, its installer and the mark before the update."""
    hardware = Installer()
    engine = await accepted_engine(csms, make_engine, hardware=hardware)
    engine.set_plugged(1, True)
    assert await engine.swipe("TAG1") == "started"
    await csms.wait_for("StartTransaction")
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        await csms.call(
            call.UpdateFirmware(location=server.url("/fw.bin"), retrieve_date=now_iso())
        )
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] == "Downloaded", after=mark
        )
        yield engine, hardware, mark


async def test_installation_waits_for_the_running_transaction(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    async with downloaded_during_a_transaction(csms, make_engine) as (engine, hardware, mark):
        await asyncio.sleep(1.5)
        assert fw_statuses(csms, mark) == ["Downloading", "Downloaded"]  # not while charging
        assert hardware.installed == []
        assert engine.connectors[1].transaction is not None
        stop_mark = len(csms.received)
        assert await engine.swipe("TAG1") == "stopped"
        assert await wait_fw_final(csms, mark) == [
            "Downloading",
            "Downloaded",
            "Installing",
            "Installed",
        ]
    order = [r.action for r in csms.received[stop_mark:]]
    assert order.index("StopTransaction") < order.index("FirmwareStatusNotification")
    # The connector became Unavailable when its transaction ended (no new session meanwhile).
    connector_statuses = [
        r.payload["status"]
        for r in csms.received[stop_mark:]
        if r.action == "StatusNotification" and r.payload["connector_id"] == 1
    ]
    assert "Unavailable" in connector_statuses
    assert engine.connectors[1].operative


async def test_pending_update_survives_a_restart(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    queue = str(tmp_path / "queue.sqlite3")
    first = await accepted_engine(csms, make_engine, queue_path=queue)
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        await csms.call(
            call.UpdateFirmware(location=server.url("/fw.bin"), retrieve_date=now_iso(3))
        )
        await first.stop()
        assert server.requests == []  # nothing was downloaded before the retrieve date
        hardware = Installer()
        mark = len(csms.received)
        second = make_engine(csms.url, queue_path=queue, hardware=hardware)
        await second.start()
        await wait_state(second, ConnectionState.ACCEPTED)
        assert await wait_fw_final(csms, mark) == [
            "Downloading",
            "Downloaded",
            "Installing",
            "Installed",
        ]
    assert hardware.installed == [(FIRMWARE, hashlib.sha256(FIRMWARE).hexdigest())]


async def test_an_installation_cut_by_a_restart_is_reported_failed(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    queue = str(tmp_path / "queue.sqlite3")
    hardware = Installer()
    hardware.release = asyncio.Event()  # never released: the installation hangs
    first = await accepted_engine(csms, make_engine, queue_path=queue, hardware=hardware)
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        await csms.call(
            call.UpdateFirmware(location=server.url("/fw.bin"), retrieve_date=now_iso())
        )
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] == "Installing", after=mark
        )
    await first.stop()
    mark = len(csms.received)
    second = make_engine(csms.url, queue_path=queue, hardware=Installer())
    await second.start()
    assert await wait_fw_final(csms, mark) == ["InstallationFailed"]
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 1 and p["status"] == "Available",
        after=mark,
    )
    assert second.connectors[1].operative


# -- SignedUpdateFirmware ------------------------------------------------------------------


def signed_request(location: str, pem: str, signature: str, request_id: int = 7) -> Any:
    return call.SignedUpdateFirmware(
        request_id=request_id,
        firmware={
            "location": location,
            "retrieveDateTime": now_iso(),
            "signingCertificate": pem,
            "signature": signature,
        },
        retries=0,
    )


def signed(csms: TestCsms, after: int) -> list[tuple[str, int]]:
    return [
        (r.payload["status"], r.payload["request_id"])
        for r in csms.received[after:]
        if r.action == "SignedFirmwareStatusNotification"
    ]


@pytest.mark.parametrize("rsa_key", [False, True], ids=["ecdsa", "rsa"])
async def test_signed_update_verified_and_installed(
    csms: TestCsms, make_engine: EngineFactory, rsa_key: bool
) -> None:
    root = make_root()
    signer = make_signer(root, rsa_key=rsa_key)
    hardware = Installer()
    engine = await accepted_engine(csms, make_engine, hardware=hardware)
    engine.services.firmware.manufacturer_roots = lambda: [root.certificate]
    events = security_events(engine)
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        answer = await csms.call(
            signed_request(server.url("/fw.bin"), signer.pem, signer.sign(FIRMWARE))
        )
        assert answer.status == "Accepted"
        await wait_fw_final(csms, mark, "SignedFirmwareStatusNotification")
    assert signed(csms, mark) == [
        ("Downloading", 7),
        ("Downloaded", 7),
        ("SignatureVerified", 7),
        ("Installing", 7),
        ("Installed", 7),
    ]
    assert fw_statuses(csms, mark) == []  # no plain FirmwareStatusNotification for a signed one
    assert hardware.installed == [(FIRMWARE, hashlib.sha256(FIRMWARE).hexdigest())]
    assert [kind for kind, _ in events] == ["FirmwareUpdated"]


async def test_bad_signature_is_refused_and_a_security_event(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    root = make_root()
    signer = make_signer(root)
    hardware = Installer()
    engine = await accepted_engine(csms, make_engine, hardware=hardware)
    engine.services.firmware.manufacturer_roots = lambda: [root.certificate]
    events = security_events(engine)
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        tampered = signer.sign(FIRMWARE + b"x")
        answer = await csms.call(signed_request(server.url("/fw.bin"), signer.pem, tampered, 9))
        assert answer.status == "Accepted"
        await wait_fw_final(csms, mark, "SignedFirmwareStatusNotification")
    assert signed(csms, mark) == [("Downloading", 9), ("Downloaded", 9), ("InvalidSignature", 9)]
    assert hardware.installed == []
    assert [kind for kind, _ in events] == ["InvalidFirmwareSignature"]


@pytest.mark.parametrize("problem", ["wrong_chain", "expired", "no_roots", "not_pem"])
async def test_untrusted_signing_certificate_is_invalid_certificate(
    csms: TestCsms, make_engine: EngineFactory, problem: str
) -> None:
    root = make_root()
    other_root = make_root("Someone Else")
    signer = {
        "wrong_chain": make_signer(other_root),
        "expired": make_signer(root, expired=True),
        "no_roots": make_signer(root),
        "not_pem": make_signer(root),
    }[problem]
    roots: list[x509.Certificate] = [] if problem == "no_roots" else [root.certificate]
    engine = await accepted_engine(csms, make_engine)
    engine.services.firmware.manufacturer_roots = lambda: roots
    events = security_events(engine)
    pem = "garbage" if problem == "not_pem" else signer.pem
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        answer = await csms.call(signed_request(server.url("/fw.bin"), pem, signer.sign(FIRMWARE)))
        assert answer.status == "InvalidCertificate"
        await asyncio.sleep(0.3)
        assert server.requests == []  # nothing downloaded
    assert signed(csms, mark) == []
    assert [kind for kind, _ in events] == ["InvalidFirmwareSigningCertificate"]
    assert await engine.journal.load_document("firmware_update") is None


async def test_feature_profiles_can_leave_firmware_management_out(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    await accepted_engine(csms, make_engine, feature_profiles=frozenset({"Core", "RemoteTrigger"}))
    got = await csms.call(call.GetConfiguration(key=["SupportedFeatureProfiles"]))
    assert got.configuration_key[0]["value"] == "Core,RemoteTrigger"
    with pytest.raises(Exception, match="NotSupported"):
        await csms.call(call.GetDiagnostics(location="ftp://127.0.0.1/"))


async def test_downloaded_signed_update_resumes_after_restart_without_downloading_again(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    root = make_root()
    signer = make_signer(root)
    queue = str(tmp_path / "queue.sqlite3")
    first = await accepted_engine(csms, make_engine, queue_path=queue)
    first.services.firmware.manufacturer_roots = lambda: [root.certificate]
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        request = signed_request(server.url("/fw.bin"), signer.pem, signer.sign(FIRMWARE), 11)
        request.firmware["installDateTime"] = now_iso(3)
        assert (await csms.call(request)).status == "Accepted"
        await csms.wait_for(
            "SignedFirmwareStatusNotification",
            lambda p: p["status"] == "InstallScheduled",
            after=mark,
        )
        await first.stop()
        hardware = Installer()
        mark = len(csms.received)
        second = make_engine(csms.url, queue_path=queue, hardware=hardware)
        second.services.firmware.manufacturer_roots = lambda: [root.certificate]
        await second.start()
        await wait_fw_final(csms, mark, "SignedFirmwareStatusNotification")
        assert [r[0] for r in server.requests] == ["GET"]  # the file was kept
    assert signed(csms, mark) == [
        ("SignatureVerified", 11),
        ("InstallScheduled", 11),
        ("Installing", 11),
        ("Installed", 11),
    ]
    assert hardware.installed == [(FIRMWARE, hashlib.sha256(FIRMWARE).hexdigest())]


async def test_trigger_reports_the_update_in_progress(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    hardware = Installer()
    hardware.release = asyncio.Event()
    await accepted_engine(csms, make_engine, hardware=hardware)
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        await csms.call(
            call.UpdateFirmware(location=server.url("/fw.bin"), retrieve_date=now_iso())
        )
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] == "Installing", after=mark
        )
        await csms.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"))
        async with asyncio.timeout(15):
            while len(fw_statuses(csms, mark)) < 4:
                await asyncio.sleep(0.02)
        assert fw_statuses(csms, mark) == ["Downloading", "Downloaded", "Installing", "Installing"]
        hardware.release.set()
        assert (await wait_fw_final(csms, mark))[-1] == "Installed"


async def test_a_new_signed_update_replaces_the_running_one(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    root = make_root()
    signer = make_signer(root)
    hardware = Installer()
    hardware.release = asyncio.Event()
    engine = await accepted_engine(csms, make_engine, hardware=hardware)
    engine.services.firmware.manufacturer_roots = lambda: [root.certificate]
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        request = signed_request(server.url("/fw.bin"), signer.pem, signer.sign(FIRMWARE), 1)
        assert (await csms.call(request)).status == "Accepted"
        await csms.wait_for(
            "SignedFirmwareStatusNotification", lambda p: p["status"] == "Installing", after=mark
        )
        request = signed_request(server.url("/fw.bin"), signer.pem, signer.sign(FIRMWARE), 2)
        assert (await csms.call(request)).status == "AcceptedCanceled"
        await csms.wait_for(
            "SignedFirmwareStatusNotification",
            lambda p: p["status"] == "Installing" and p["request_id"] == 2,
            after=mark,
        )
        hardware.release.set()
        await wait_fw_final(csms, mark, "SignedFirmwareStatusNotification")
    assert signed(csms, mark)[-1] == ("Installed", 2)
    assert ("Installed", 1) not in signed(csms, mark)
    assert len(hardware.installed) == 1
    assert await engine.journal.load_document("firmware_update") is None


async def test_a_leap_second_retrieve_date_is_a_valid_date(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """retrieveDate is read as RFC 3339 like every other date: :60 (a leap second) is valid
    (it was a CALLERROR)."""
    hardware = Installer()
    await accepted_engine(csms, make_engine, hardware=hardware)
    with http_server() as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        await csms.call(
            call.UpdateFirmware(
                location=server.url("/fw.bin"), retrieve_date="2016-12-31T23:59:60Z"
            )
        )
        assert (await wait_fw_final(csms, mark))[-1] == "Installed"
    assert hardware.installed == [(FIRMWARE, hashlib.sha256(FIRMWARE).hexdigest())]


async def test_trigger_while_installation_waits_for_a_transaction_answers_downloaded(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """A plain update waiting for the transaction to end has sent Downloaded last (the plain
    notification has no InstallScheduled): that is what a trigger answers, not Idle."""
    async with downloaded_during_a_transaction(csms, make_engine) as (engine, hardware, mark):
        await csms.wait_for(  # the installation waits: the connector is being made Unavailable
            "StatusNotification", lambda p: p["status"] == "Unavailable", after=mark
        )
        trigger_mark = len(csms.received)
        await csms.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"))
        await csms.wait_for("FirmwareStatusNotification", after=trigger_mark)
        assert fw_statuses(csms, trigger_mark) == ["Downloaded"]
        assert await engine.swipe("TAG1") == "stopped"
        assert await wait_fw_final(csms, mark) == [
            "Downloading",
            "Downloaded",
            "Downloaded",
            "Installing",
            "Installed",
        ]


@pytest.mark.parametrize("fault", ["short", "bad_status"])
async def test_a_cut_or_garbled_http_download_is_download_failed(
    csms: TestCsms, make_engine: EngineFactory, fault: str
) -> None:
    """A body shorter than its Content-Length is never installed, and an http.client error
    (BadStatusLine) ends in DownloadFailed too instead of leaving Downloading forever."""
    hardware = Installer()
    await accepted_engine(csms, make_engine, hardware=hardware)
    with http_server(fault=fault) as server:
        server.files["/fw.bin"] = FIRMWARE
        mark = len(csms.received)
        await csms.call(
            call.UpdateFirmware(
                location=server.url("/fw.bin"), retrieve_date=now_iso(), retries=1, retry_interval=0
            )
        )
        assert await wait_fw_final(csms, mark) == ["Downloading", "DownloadFailed"]
        assert [r[0] for r in server.requests] == ["GET", "GET"]
    assert hardware.installed == []


def renewed(root: Signer, not_after: datetime) -> x509.Certificate:
    """``root`` issued again (same name and key) with another end of validity."""
    return (
        x509.CertificateBuilder()
        .subject_name(root.certificate.subject)
        .issuer_name(root.certificate.subject)
        .public_key(root.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(root.certificate.not_valid_before_utc - timedelta(days=30))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root.key, hashes.SHA256())
    )


def test_signing_certificate_and_certificate_signed_share_the_root_rule() -> None:
    """One chain check for SignedUpdateFirmware and CertificateSigned (pki.chain_error): an
    expired matching root is an error, unless its valid renewal is installed too."""
    root = make_root()
    signer = make_signer(root)
    now = datetime.now(UTC)
    expired = renewed(root, now - timedelta(hours=1))
    with pytest.raises(CertificateProblem, match="expired"):
        check_signing_certificate(signer.pem, [expired], now)
    assert check_signing_certificate(signer.pem, [expired, root.certificate], now) == (
        signer.certificate
    )
    assert pki.chain_error([signer.certificate], [expired, root.certificate], now) is None
    assert pki.chain_error([signer.certificate], [expired], now) == (
        f"certificate {root.certificate.subject.rfc4514_string()} expired"
    )
    with pytest.raises(CertificateProblem, match="installed ManufacturerRootCertificate"):
        check_signing_certificate(signer.pem, [make_root("Someone Else").certificate], now)
