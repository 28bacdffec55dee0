"""ExtendedTriggerMessage: every requestedMessage of the schema, answered and followed up."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ChargePointEngine
from tests.csms import TestCsms

from .conftest import EngineFactory
from .firmware_pki import make_root, make_signer

ENERGY = "Energy.Active.Import.Register"


async def accepted(csms: TestCsms, make_engine: EngineFactory) -> ChargePointEngine:
    engine = make_engine(csms.url)
    await engine.start()
    engine.set_reading(1, ENERGY, 1234.0)
    await csms.wait_for("SecurityEventNotification")
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
    return engine


async def trigger(
    csms: TestCsms, requested: str, connector_id: int | None = None
) -> tuple[str, int]:
    mark = len(csms.received)
    result = await csms.call(
        call.ExtendedTriggerMessage(requested_message=requested, connector_id=connector_id)
    )
    return str(result.status), mark


async def test_core_messages(csms: TestCsms, make_engine: EngineFactory) -> None:
    await accepted(csms, make_engine)
    status, mark = await trigger(csms, "BootNotification")
    assert status == "Accepted"
    await csms.wait_for("BootNotification", after=mark)
    status, mark = await trigger(csms, "Heartbeat")
    assert status == "Accepted"
    await csms.wait_for("Heartbeat", after=mark)
    status, mark = await trigger(csms, "StatusNotification", 1)
    assert status == "Accepted"
    sent = await csms.wait_for("StatusNotification", after=mark)
    assert (sent["connector_id"], sent["status"]) == (1, "Available")
    status, mark = await trigger(csms, "MeterValues", 1)
    assert status == "Accepted"
    values = await csms.wait_for("MeterValues", after=mark)
    assert values["connector_id"] == 1
    sampled = values["meter_value"][0]["sampled_value"]
    energy = [v for v in sampled if v.get("measurand", ENERGY) == ENERGY]
    assert float(energy[0]["value"]) == 1234.0
    assert energy[0]["context"] == "Trigger"


async def test_an_unknown_connector_is_rejected(csms: TestCsms, make_engine: EngineFactory) -> None:
    await accepted(csms, make_engine)
    status, mark = await trigger(csms, "StatusNotification", 7)
    assert status == "Rejected"
    await asyncio.sleep(0.2)
    assert [r.action for r in csms.received[mark:]] == []


async def test_firmware_status(csms: TestCsms, make_engine: EngineFactory) -> None:
    """The security extension's form (as libocpp): SignedFirmwareStatusNotification, Idle with
    no update, else the update's status and requestId."""
    await accepted(csms, make_engine)
    status, mark = await trigger(csms, "FirmwareStatusNotification")
    assert status == "Accepted"
    idle = await csms.wait_for("SignedFirmwareStatusNotification", after=mark)
    assert idle == {"status": "Idle"}
    root = make_root()
    signer = make_signer(root)
    # The signing certificate is checked against the manufacturer roots installed over OCPP.
    installed = await csms.call(
        call.InstallCertificate(
            certificate_type="ManufacturerRootCertificate", certificate=root.pem
        )
    )
    assert installed.status == "Accepted"
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    answer = await csms.call(
        call.SignedUpdateFirmware(
            request_id=41,
            firmware={
                "location": "http://127.0.0.1:9/fw.bin",
                "retrieveDateTime": later,
                "signingCertificate": signer.pem,
                "signature": signer.sign(b"not downloaded yet"),
            },
        )
    )
    assert answer.status == "Accepted"
    await csms.wait_for("SignedFirmwareStatusNotification", lambda p: p.get("request_id") == 41)
    status, mark = await trigger(csms, "FirmwareStatusNotification")
    assert status == "Accepted"
    sent = await csms.wait_for("SignedFirmwareStatusNotification", after=mark)
    assert sent == {"status": "DownloadScheduled", "request_id": 41}


async def test_sign_charge_point_certificate(csms: TestCsms, make_engine: EngineFactory) -> None:
    """The trigger makes a new key and CSR (the certificate service): SignCertificate.req."""
    await accepted(csms, make_engine)
    status, mark = await trigger(csms, "SignChargePointCertificate")
    assert status == "Accepted"
    request = await csms.wait_for("SignCertificate", after=mark)
    assert request["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")


async def test_log_status_when_idle(csms: TestCsms, make_engine: EngineFactory) -> None:
    await accepted(csms, make_engine)
    status, mark = await trigger(csms, "LogStatusNotification")
    assert status == "Accepted"
    assert await csms.wait_for("LogStatusNotification", after=mark) == {"status": "Idle"}
    frame = await csms.wait_raw(lambda f: f[0] == 2 and f[2] == "LogStatusNotification")
    assert frame[3] == {"status": "Idle"}


async def test_a_message_the_schema_does_not_know_is_a_callerror(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    await accepted(csms, make_engine)
    text = json.dumps(
        [
            2,
            "etm-1",
            "ExtendedTriggerMessage",
            {"requestedMessage": "DiagnosticsStatusNotification"},
        ]
    )
    await csms.send_raw(text)
    answer = await csms.wait_raw(lambda f: f[1] == "etm-1")
    assert answer[0] == 4
    assert answer[2] in ("FormationViolation", "PropertyConstraintViolation")
