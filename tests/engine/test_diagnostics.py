"""GetDiagnostics and DiagnosticsStatusNotification against a real CSMS and real FTP/HTTP
servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import platform
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from custom_components.ocpp_cp import engine as engine_package
from custom_components.ocpp_cp.engine import ChargePointEngine, SecurityProfile
from custom_components.ocpp_cp.engine.ocpp16.frames import redact
from tests.csms import TestCsms

from .conftest import EngineFactory, RecordingHardware
from .file_servers import FTP_PASSWORD, READONLY_USER, ftp_server, http_server
from .test_core import accepted_engine
from .tls import make_pki

pytestmark = pytest.mark.timeout(60)

AUTH_KEY = "0123456789abcdef-secret-key"
BASIC_TOKEN = base64.b64encode(b"uploader:basic-secret-77").decode()


class DiagnosticHardware(RecordingHardware):
    async def diagnostics_files(self) -> dict[str, bytes]:
        return {"charger log.txt": b"relay cycles: 42\n"}


def statuses(csms: TestCsms, after: int = 0) -> list[str]:
    return [
        r.payload["status"]
        for r in csms.received[after:]
        if r.action == "DiagnosticsStatusNotification"
    ]


async def wait_final(csms: TestCsms, after: int = 0, timeout: float = 20) -> list[str]:
    await csms.wait_for(
        "DiagnosticsStatusNotification",
        lambda p: p["status"] in ("Uploaded", "UploadFailed"),
        after=after,
        timeout=timeout,
    )
    return statuses(csms, after)


async def engine_with_events(
    csms: TestCsms, make_engine: EngineFactory, events: list[tuple[str, dict[str, Any]]]
) -> ChargePointEngine:
    return await accepted_engine(
        csms,
        make_engine,
        security_profile=SecurityProfile.BASIC_AUTH,
        authorization_key=AUTH_KEY,
        hardware=DiagnosticHardware(),
        listener=lambda kind, data: events.append((kind, data)),
    )


async def test_ftp_upload_of_a_complete_archive_without_secrets(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    csms.expected_password = AUTH_KEY
    await engine_with_events(csms, make_engine, events)
    # A frame carrying an HTTP Basic credential: the archive shows it as ***.
    await csms.call(call.DataTransfer(vendor_id="acme", data=f"Authorization: Basic {BASIC_TOKEN}"))
    with ftp_server(tmp_path / "ftp") as server:
        mark = len(csms.received)
        answer = await csms.call(call.GetDiagnostics(location=server.url("/")))
        assert answer.file_name.startswith("CP1-diagnostics-") and answer.file_name.endswith(".zip")
        assert await wait_final(csms, mark) == ["Uploading", "Uploaded"]
        content = (tmp_path / "ftp" / answer.file_name).read_bytes()
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert set(archive.namelist()) == {
        "configuration.json",
        "frames.jsonl",
        "state.json",
        "versions.json",
        "hardware/charger_log.txt",
    }
    configuration = {e["key"]: e for e in json.loads(archive.read("configuration.json"))}
    assert configuration["AuthorizationKey"]["value"] == "***"
    assert configuration["NumberOfConnectors"]["value"] == "1"
    frames = [json.loads(line) for line in archive.read("frames.jsonl").splitlines()]
    actions = [json.loads(f["frame"])[2] for f in frames if json.loads(f["frame"])[0] == 2]
    assert actions[:2] == ["BootNotification", "StatusNotification"]
    assert "GetDiagnostics" in actions
    state = json.loads(archive.read("state.json"))
    assert state["connectors"]["1"]["status"] == "Available"
    assert state["queued_transaction_messages"] == 0
    assert state["connected"] is True
    versions = json.loads(archive.read("versions.json"))
    assert versions["python"] == platform.python_version()
    assert versions["ocpp"] == "2.1.0"
    manifest = json.loads((Path(engine_package.__file__).parents[1] / "manifest.json").read_text())
    assert versions["engine"] == manifest["version"]
    assert archive.read("hardware/charger_log.txt") == b"relay cycles: 42\n"
    # No secret anywhere: not in the archive, not in any event the engine emitted.
    for name in archive.namelist():
        text = archive.read(name).decode()
        assert AUTH_KEY not in text and FTP_PASSWORD not in text, name
        assert BASIC_TOKEN not in text, name
    assert "Authorization: Basic ***" in archive.read("frames.jsonl").decode()
    emitted = json.dumps(events, default=str)
    assert AUTH_KEY not in emitted and FTP_PASSWORD not in emitted
    assert ("diagnostics_status", {"status": "Uploaded"}) in events


async def test_start_and_stop_time_select_the_frames(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    await accepted_engine(csms, make_engine)
    with http_server() as server:
        mark = len(csms.received)
        future = await csms.call(
            call.GetDiagnostics(location=server.url("/a/"), start_time="2099-01-01T00:00:00Z")
        )
        await wait_final(csms, mark)
        mark = len(csms.received)
        everything = await csms.call(call.GetDiagnostics(location=server.url("/b/")))
        await wait_final(csms, mark)
        mark = len(csms.received)
        past = await csms.call(
            call.GetDiagnostics(location=server.url("/c/"), stop_time="2000-01-01T00:00:00Z")
        )
        await wait_final(csms, mark)

        def frames(path: str) -> bytes:
            return zipfile.ZipFile(io.BytesIO(server.files[path])).read("frames.jsonl")

        assert frames(f"/a/{future.file_name}") == b""
        assert frames(f"/c/{past.file_name}") == b""
        assert b"BootNotification" in frames(f"/b/{everything.file_name}")
        assert [r[0] for r in server.requests] == ["PUT", "PUT", "PUT"]


async def test_refused_upload_is_retried_then_upload_failed(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    await accepted_engine(csms, make_engine)
    with http_server(writable=False) as server:
        mark = len(csms.received)
        await csms.call(
            call.GetDiagnostics(location=server.url("/up/"), retries=2, retry_interval=0)
        )
        assert await wait_final(csms, mark) == ["Uploading", "UploadFailed"]
        assert [r[0] for r in server.requests] == ["PUT", "PUT", "PUT"]
    with ftp_server(tmp_path / "ftp") as ftp:
        mark = len(csms.received)
        await csms.call(call.GetDiagnostics(location=ftp.url("/", user=READONLY_USER), retries=0))
        assert await wait_final(csms, mark) == ["Uploading", "UploadFailed"]
        assert list((tmp_path / "ftp").iterdir()) == []


async def test_unreachable_location_fails(csms: TestCsms, make_engine: EngineFactory) -> None:
    await accepted_engine(csms, make_engine)
    mark = len(csms.received)
    await csms.call(call.GetDiagnostics(location="ftp://u:p@127.0.0.1:1/", retries=0))
    assert await wait_final(csms, mark) == ["Uploading", "UploadFailed"]


async def test_trigger_answers_idle_when_nothing_runs(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    await accepted_engine(csms, make_engine)
    mark = len(csms.received)
    answer = await csms.call(call.TriggerMessage(requested_message="DiagnosticsStatusNotification"))
    assert answer.status == "Accepted"
    await csms.wait_for("DiagnosticsStatusNotification", after=mark)
    assert statuses(csms, mark) == ["Idle"]
    with http_server() as server:
        mark = len(csms.received)
        await csms.call(call.GetDiagnostics(location=server.url("/")))
        await wait_final(csms, mark)
    mark = len(csms.received)
    await csms.call(call.TriggerMessage(requested_message="DiagnosticsStatusNotification"))
    await csms.wait_for("DiagnosticsStatusNotification", after=mark)
    assert statuses(csms, mark) == ["Idle"]  # Uploaded is over: nothing runs


async def test_statuses_wait_for_the_next_connection(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """Offline, the notifications are kept in order and sent once accepted again."""
    engine = await accepted_engine(csms, make_engine)
    with http_server() as server:
        mark = len(csms.received)
        await csms.call(call.GetDiagnostics(location=server.url("/"), retries=0))
        engine.go_offline()
        async with asyncio.timeout(10):
            while not server.files:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert statuses(csms, mark) in ([], ["Uploading"])
        offline_count = len(statuses(csms, mark))
        engine.go_online()
        sent = await wait_final(csms, mark)
    # Uploaded waited for the connection; an Uploading whose answer the drop cut off is sent
    # again (at least once), never skipped.
    assert sent[offline_count:][-1] == "Uploaded"
    assert "Uploaded" not in sent[:offline_count]
    assert [s for i, s in enumerate(sent) if i == 0 or sent[i - 1] != s] == [
        "Uploading",
        "Uploaded",
    ]


async def test_trigger_during_an_upload_answers_uploading(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    await accepted_engine(csms, make_engine)
    with http_server() as server:
        server.hold = threading.Event()
        mark = len(csms.received)
        await csms.call(call.GetDiagnostics(location=server.url("/")))
        async with asyncio.timeout(10):
            while not server.requests:  # the PUT arrived and is held
                await asyncio.sleep(0.02)
        # The upload's own Uploading first; then the triggered one is the next after `triggered`
        # (`mark + 1` would be the first one if any other message came in between).
        await csms.wait_for("DiagnosticsStatusNotification", after=mark)
        triggered = len(csms.received)
        await csms.call(call.TriggerMessage(requested_message="DiagnosticsStatusNotification"))
        await csms.wait_for("DiagnosticsStatusNotification", after=triggered)
        await asyncio.sleep(0.1)
        assert statuses(csms, mark) == ["Uploading", "Uploading"]
        server.hold.set()
        assert await wait_final(csms, mark) == ["Uploading", "Uploading", "Uploaded"]


@pytest.mark.parametrize(
    ("frame", "shown"),
    [
        ('{"location":"ftp://u:pw@h/x"}', '{"location":"ftp://u:***@h/x"}'),
        ('{"location":"ftps://u:p@ss:w@h:21/"}', '{"location":"ftps://u:***@h:21/"}'),
        (
            '{"location":"https://h/x","mail":"a@b.org"}',
            '{"location":"https://h/x","mail":"a@b.org"}',
        ),
        ('{"location":"ftp://anonymous@h/x"}', '{"location":"ftp://anonymous@h/x"}'),
    ],
)
def test_redact_hides_url_passwords(frame: str, shown: str) -> None:
    assert redact(frame) == shown


def test_redact_hides_basic_credentials() -> None:
    frame = f'{{"data":"Authorization: Basic {BASIC_TOKEN}"}}'
    assert redact(frame) == '{"data":"Authorization: Basic ***"}'
    assert redact('{"data":"a basic frame"}') == '{"data":"a basic frame"}'


def test_frame_ring_is_bounded_in_count_and_size(make_engine: EngineFactory) -> None:
    diagnostics = make_engine("ws://127.0.0.1:1/ocpp").diagnostics
    for n in range(1500):
        diagnostics.record_frame("out", f"[{n}]")
    assert len(diagnostics.frames) == 1000
    assert diagnostics.frames[-1][2] == "[1499]"
    for n in range(400):
        diagnostics.record_frame("in", f"{n:04d}" + "x" * 9000)  # cut at 4096 characters
    assert sum(len(text) for _, _, text in diagnostics.frames) <= 256 * 1024
    assert len(diagnostics.frames) == 64
    assert diagnostics.frames[-1][2].startswith("0399") and len(diagnostics.frames[-1][2]) == 4096


async def test_ftps_upload_and_firmware_download_with_the_configured_ca(
    csms: TestCsms, make_engine: EngineFactory, tmp_path: Path
) -> None:
    """ftps:// with the connection's CA file (EngineSettings.ca_file) as the trust store."""
    pki = make_pki(tmp_path)
    engine = await accepted_engine(csms, make_engine, ca_file=str(pki.ca_file))
    with ftp_server(tmp_path / "ftp", pki) as server:
        (tmp_path / "ftp" / "fw.bin").write_bytes(b"image")
        mark = len(csms.received)
        answer = await csms.call(call.GetDiagnostics(location=server.url("/"), retries=0))
        assert await wait_final(csms, mark) == ["Uploading", "Uploaded"]
        assert zipfile.is_zipfile(tmp_path / "ftp" / answer.file_name)
        mark = len(csms.received)
        await csms.call(
            call.UpdateFirmware(
                location=server.url("/fw.bin"), retrieve_date="2000-01-01T00:00:00Z", retries=0
            )
        )
        await csms.wait_for(
            "FirmwareStatusNotification",
            lambda p: p["status"] == "InstallationFailed",  # RecordingHardware cannot install
            after=mark,
        )
    assert [
        r.payload["status"]
        for r in csms.received[mark:]
        if r.action == "FirmwareStatusNotification"
    ] == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert engine.services.firmware.job is None


@pytest.fixture
def local_time_utc_minus_5(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone five hours behind UTC (restored after the test)."""
    monkeypatch.setenv("TZ", "Etc/GMT+5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def test_times_are_read_as_rfc3339_leap_second_and_no_offset_as_utc(
    csms: TestCsms, make_engine: EngineFactory, local_time_utc_minus_5: None
) -> None:
    """A leap second (:60) is a valid startTime (it was a CALLERROR); a time without an offset
    is UTC, as everywhere else in the engine, not the charge point's local time."""
    await accepted_engine(csms, make_engine)
    half_an_hour_ago = (datetime.now(UTC) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    with http_server() as server:
        mark = len(csms.received)
        leap = await csms.call(
            call.GetDiagnostics(location=server.url("/a/"), start_time="2016-12-31T23:59:60Z")
        )
        await wait_final(csms, mark)
        mark = len(csms.received)
        naive = await csms.call(
            call.GetDiagnostics(location=server.url("/b/"), stop_time=half_an_hour_ago)
        )
        assert await wait_final(csms, mark) == ["Uploading", "Uploaded"]

        def frames(path: str) -> bytes:
            return zipfile.ZipFile(io.BytesIO(server.files[path])).read("frames.jsonl")

        assert b"BootNotification" in frames(f"/a/{leap.file_name}")
        # Every frame is younger than half an hour (local time would be 4.5 hours ahead).
        assert frames(f"/b/{naive.file_name}") == b""
