"""UpdateFirmware and GetDiagnostics through Home Assistant: the firmware_downloaded event, the
report_firmware_installed service, the companion seam and HA's diagnostics in the archive."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import async_capture_events, async_mock_service

from custom_components.ocpp_cp.const import DOMAIN
from custom_components.ocpp_cp.firmware_install import EVENT_FIRMWARE_DOWNLOADED
from tests.csms import TestCsms
from tests.engine.file_servers import FTP_PASSWORD, http_server

from .test_bridge import set_up

IMAGE = b"charger firmware v2" * 2000
SECRET_KEY = "s3cr3t-authorization-key"
FINAL = ("DownloadFailed", "Installed", "InstallationFailed")


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def firmware_statuses(csms: TestCsms, after: int) -> list[str]:
    return [
        r.payload["status"]
        for r in csms.received[after:]
        if r.action == "FirmwareStatusNotification"
    ]


@pytest.fixture(autouse=True)
def _outputs(hass: HomeAssistant) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    async_mock_service(hass, "number", "set_value")


async def _update(hass: HomeAssistant, csms: TestCsms, location: str) -> int:
    mark = len(csms.received)
    await csms.call(call.UpdateFirmware(location=location, retrieve_date=now_iso(), retries=0))
    return mark


@pytest.mark.parametrize(("success", "final"), [(True, "Installed"), (False, "InstallationFailed")])
async def test_automation_installs_and_reports_through_the_service(
    hass: HomeAssistant, csms: TestCsms, success: bool, final: str
) -> None:
    entry = await set_up(hass, csms)
    events = async_capture_events(hass, EVENT_FIRMWARE_DOWNLOADED)
    with http_server(user="fw", password=FTP_PASSWORD) as server:
        server.files["/fw.bin"] = IMAGE
        mark = await _update(hass, csms, server.url("/fw.bin"))
        async with asyncio.timeout(20):
            while not events:
                await asyncio.sleep(0.05)
    data = events[0].data
    assert data["entry_id"] == entry.entry_id
    assert data["sha256"] == hashlib.sha256(IMAGE).hexdigest()
    assert Path(data["path"]).read_bytes() == IMAGE
    assert data["location"] == f"http://fw:***@127.0.0.1:{server.port}/fw.bin"
    await csms.wait_for(
        "FirmwareStatusNotification", lambda p: p["status"] == "Installing", after=mark
    )
    assert firmware_statuses(csms, mark) == ["Downloading", "Downloaded", "Installing"]
    await hass.services.async_call(
        DOMAIN,
        "report_firmware_installed",
        {"config_entry_id": entry.entry_id, "success": success},
        blocking=True,
    )
    await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] in FINAL, after=mark)
    assert firmware_statuses(csms, mark) == ["Downloading", "Downloaded", "Installing", final]


async def test_no_report_in_time_is_installation_failed(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    entry = await set_up(hass, csms)
    entry.runtime_data.firmware_install.timeout = 0.5
    with http_server() as server:
        server.files["/fw.bin"] = IMAGE
        mark = await _update(hass, csms, server.url("/fw.bin"))
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] in FINAL, after=mark, timeout=20
        )
    assert firmware_statuses(csms, mark)[-1] == "InstallationFailed"


async def test_report_without_a_waiting_installation_is_refused(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    entry = await set_up(hass, csms)
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN,
            "report_firmware_installed",
            {"config_entry_id": entry.entry_id, "success": True},
            blocking=True,
        )
    assert caught.value.translation_key == "no_firmware_installation"


async def test_a_companion_device_installs_instead_of_the_event(
    hass: HomeAssistant, csms: TestCsms, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a companion firmware device mapped, the bridge hands the file to it (its OTA is
    tested end to end in test_companion_ota_update_firmware.py) and fires no event."""
    entry = await set_up(hass, csms)
    installed: list[tuple[list[str], bytes, str]] = []

    async def companion(topics: list[str], path: str, sha256: str) -> bool:
        installed.append((topics, Path(path).read_bytes(), sha256))
        return True

    monkeypatch.setattr(entry.runtime_data, "firmware_topics", lambda: ["evse/base"])
    monkeypatch.setattr(entry.runtime_data.companion_update, "install", companion)
    events = async_capture_events(hass, EVENT_FIRMWARE_DOWNLOADED)
    with http_server() as server:
        server.files["/fw.bin"] = IMAGE
        mark = await _update(hass, csms, server.url("/fw.bin"))
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] in FINAL, after=mark, timeout=20
        )
    assert firmware_statuses(csms, mark)[-1] == "Installed"
    assert installed == [(["evse/base"], IMAGE, hashlib.sha256(IMAGE).hexdigest())]
    assert events == []


async def test_get_diagnostics_carries_home_assistant_diagnostics(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    csms.expected_password = SECRET_KEY
    entry = await set_up(hass, csms, data={"security_profile": 1, "authorization_key": SECRET_KEY})
    with http_server(user="diag", password=FTP_PASSWORD) as server:
        mark = len(csms.received)
        answer = await csms.call(call.GetDiagnostics(location=server.url("/diag/")))
        await csms.wait_for(
            "DiagnosticsStatusNotification", lambda p: p["status"] == "Uploaded", after=mark
        )
        content = server.files[f"/diag/{answer.file_name}"]
    archive = zipfile.ZipFile(io.BytesIO(content))
    ha = json.loads(archive.read("hardware/home_assistant_diagnostics.json"))
    assert ha["entry"]["title"] == entry.title
    frames = [f["frame"] for f in ha["engine"]["frames"]]
    assert any("GetDiagnostics" in frame and "diag:***@" in frame for frame in frames)
    for name in archive.namelist():
        text = archive.read(name).decode()
        assert SECRET_KEY not in text and FTP_PASSWORD not in text, name
