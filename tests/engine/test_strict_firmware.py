"""GetDiagnostics, UpdateFirmware and SignedUpdateFirmware against ocpp-rpc in strict mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ocpp_cp.engine import ConnectionState
from tests.strict_csms_harness import StrictCsms

from .conftest import EngineFactory, RecordingHardware
from .file_servers import http_server
from .firmware_pki import make_root, make_signer
from .test_core import wait_state
from .test_strict_csms import result_of

pytestmark = pytest.mark.timeout(90)

IMAGE = b"firmware for the strict check" * 100


class Installs(RecordingHardware):
    async def install_firmware(self, path: str, sha256: str) -> bool:
        return True


@pytest.fixture
async def strict() -> AsyncIterator[StrictCsms]:
    async with StrictCsms() as server:
        yield server


def calls_of(strict: StrictCsms, method: str) -> list[dict[str, Any]]:
    return [
        e["params"] for e in strict.events if e.get("event") == "call_in" and e["method"] == method
    ]


async def test_firmware_and_diagnostics_without_schema_violations(
    strict: StrictCsms, make_engine: EngineFactory
) -> None:
    root = make_root()
    signer = make_signer(root)
    engine = make_engine(strict.url, hardware=Installs())
    engine.services.firmware.manufacturer_roots = lambda: [root.certificate]
    await engine.start()
    await wait_state(engine, ConnectionState.ACCEPTED)

    def final(method: str, status: str) -> Any:
        return lambda e: (
            e.get("event") == "call_in"
            and e["method"] == method
            and e["params"]["status"] == status
        )

    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    with http_server() as server:
        server.files["/fw.bin"] = IMAGE
        diagnostics = result_of(
            await strict.call(
                "GetDiagnostics",
                {"location": server.url("/up/"), "retries": 1, "retryInterval": 1},
            )
        )
        assert diagnostics["fileName"].endswith(".zip")
        await strict.wait_for(final("DiagnosticsStatusNotification", "Uploaded"))
        answer = result_of(
            await strict.call(
                "UpdateFirmware",
                {"location": server.url("/fw.bin"), "retrieveDate": now, "retries": 0},
            )
        )
        assert answer == {}
        await strict.wait_for(final("FirmwareStatusNotification", "Installed"))
        signed = result_of(
            await strict.call(
                "SignedUpdateFirmware",
                {
                    "requestId": 3,
                    "firmware": {
                        "location": server.url("/fw.bin"),
                        "retrieveDateTime": now,
                        "signingCertificate": signer.pem,
                        "signature": signer.sign(IMAGE),
                    },
                },
            )
        )
        assert signed == {"status": "Accepted"}
        await strict.wait_for(final("SignedFirmwareStatusNotification", "Installed"))
    for requested in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
        answer = result_of(await strict.call("TriggerMessage", {"requestedMessage": requested}))
        assert answer["status"] == "Accepted"
        await strict.wait_for(final(requested, "Idle"))
    await strict.check_no_violations()
    assert [p["status"] for p in calls_of(strict, "DiagnosticsStatusNotification")] == [
        "Uploading",
        "Uploaded",
        "Idle",
    ]
    assert [p["status"] for p in calls_of(strict, "FirmwareStatusNotification")] == [
        "Downloading",
        "Downloaded",
        "Installing",
        "Installed",
        "Idle",
    ]
    assert calls_of(strict, "SignedFirmwareStatusNotification") == [
        {"status": s, "requestId": 3}
        for s in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed")
    ]
