"""ExtendedTriggerMessage: every requestedMessage of the schema, answered and followed up."""

from __future__ import annotations

import asyncio
import json

from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ChargePointEngine
from tests.csms import TestCsms

from .conftest import EngineFactory

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
    engine = await accepted(csms, make_engine)
    status, mark = await trigger(csms, "FirmwareStatusNotification")
    assert status == "Accepted"
    assert await csms.wait_for("FirmwareStatusNotification", after=mark) == {"status": "Idle"}
    engine.services.security.firmware_status = lambda: "Downloading"
    status, mark = await trigger(csms, "FirmwareStatusNotification")
    assert status == "Accepted"
    sent = await csms.wait_for("FirmwareStatusNotification", after=mark)
    assert sent == {"status": "Downloading"}


async def test_sign_charge_point_certificate(csms: TestCsms, make_engine: EngineFactory) -> None:
    engine = await accepted(csms, make_engine)
    status, _ = await trigger(csms, "SignChargePointCertificate")
    assert status == "Rejected"  # no certificate service wired
    requested = asyncio.Event()

    async def request_signing() -> None:
        requested.set()

    engine.services.security.request_signing = request_signing
    status, _ = await trigger(csms, "SignChargePointCertificate")
    assert status == "Accepted"
    async with asyncio.timeout(5):
        await requested.wait()


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
