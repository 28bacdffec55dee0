"""The simulator's --firmware-install option and its status events (a black box)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.csms import TestCsms

from .file_servers import FTP_PASSWORD, ftp_server, http_server
from .test_simulator import Simulator

pytestmark = pytest.mark.timeout(60)

IMAGE = b"simulated firmware" * 1000


@pytest.mark.parametrize(
    ("install", "final"), [("accept", "Installed"), ("reject", "InstallationFailed")]
)
async def test_firmware_and_diagnostics_statuses_are_printed(
    csms: TestCsms, tmp_path: Path, install: str, final: str
) -> None:
    sim = await Simulator.start(csms.url, tmp_path / "state", "--firmware-install", install)
    try:
        await csms.wait_for("BootNotification")
        await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
        with http_server() as server:
            server.files["/fw.bin"] = IMAGE
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            await csms.call(call.UpdateFirmware(location=server.url("/fw.bin"), retrieve_date=now))
            await sim.wait(lambda e: e["event"] == "firmware_status" and e["status"] == final)
        with ftp_server(tmp_path / "ftp") as ftp:
            answer = await csms.call(call.GetDiagnostics(location=ftp.url("/")))
            await sim.wait(
                lambda e: e["event"] == "diagnostics_status" and e["status"] == "Uploaded"
            )
            assert (tmp_path / "ftp" / answer.file_name).is_file()
        assert await sim.quit() == 0
    finally:
        if sim.process.returncode is None:
            await sim.kill()
    firmware = [e["status"] for e in sim.lines if e["event"] == "firmware_status"]
    assert firmware == ["Downloading", "Downloaded", "Installing", final]
    diagnostics = [e["status"] for e in sim.lines if e["event"] == "diagnostics_status"]
    assert diagnostics == ["Uploading", "Uploaded"]
    installs = [
        e for e in sim.lines if e["event"] == "hardware" and e["action"] == "install_firmware"
    ]
    assert [(i["sha256"], i["ok"]) for i in installs] == [
        (hashlib.sha256(IMAGE).hexdigest(), install == "accept")
    ]
    output = json.dumps(sim.lines)
    assert FTP_PASSWORD not in output  # the GetDiagnostics frame is printed redacted
    assert ":***@" in output
