"""RemoteTrigger profile (TriggerMessage) and DataTransfer both ways (OCPP 1.6 edition 2,
sections 5.17, 4.3, 5.6)."""

from __future__ import annotations

import pytest

from .conftest import Launch
from .harness import (
    ERROR,
    RESULT,
    Csms,
    answered,
    assert_in_order,
    begin,
    calls,
    conf,
    req,
    sampled,
)


async def trigger(csms: Csms, message: str, connector_id: int | None = None) -> str:
    payload: dict[str, object] = {"requestedMessage": message}
    if connector_id is not None:
        payload["connectorId"] = connector_id
    status: str = (await csms.ask("TriggerMessage", payload))["status"]
    return status


async def test_trigger_boot_notification(csms: Csms, launch: Launch) -> None:
    """TriggerMessage(BootNotification): Accepted, and the BootNotification.req follows the
    TriggerMessage.conf (sections 5.17, 4.2)."""
    await launch()
    mark = csms.mark()
    assert await trigger(csms, "BootNotification") == "Accepted"
    await csms.wait(answered("BootNotification"), mark)
    assert_in_order(
        csms.since(mark),
        conf("TriggerMessage", status="Accepted"),
        req("BootNotification"),
        answered("BootNotification", status="Accepted"),
    )


async def test_trigger_heartbeat(csms: Csms, launch: Launch) -> None:
    """TriggerMessage(Heartbeat): Accepted, then a Heartbeat.req (sections 5.17, 4.6)."""
    await launch()
    mark = csms.mark()
    assert await trigger(csms, "Heartbeat") == "Accepted"
    await csms.wait(answered("Heartbeat"), mark)
    assert_in_order(csms.since(mark), conf("TriggerMessage", status="Accepted"), req("Heartbeat"))


async def test_trigger_status_notification_for_one_connector_and_for_all(
    csms: Csms, launch: Launch
) -> None:
    """TriggerMessage(StatusNotification): with connectorId only that connector's status,
    without connectorId the charge point's (connector 0) and every connector's
    (sections 5.17, 4.9)."""
    sim = await launch(connectors=2)
    await sim.do("plug 2")
    await csms.wait(req("StatusNotification", connectorId=2, status="Preparing"))
    mark = csms.mark()
    assert await trigger(csms, "StatusNotification", 2) == "Accepted"
    await csms.wait(req("StatusNotification", connectorId=2), mark)
    await csms.quiet(0.3)
    one = calls(csms.since(mark), "StatusNotification")
    assert [(f.payload["connectorId"], f.payload["status"]) for f in one] == [(2, "Preparing")]
    mark = csms.mark()
    assert await trigger(csms, "StatusNotification") == "Accepted"
    for connector_id in (0, 1, 2):
        await csms.wait(req("StatusNotification", connectorId=connector_id), mark)
    await csms.quiet(0.3)
    every = calls(csms.since(mark), "StatusNotification")
    assert sorted(f.payload["connectorId"] for f in every) == [0, 1, 2]
    assert_in_order(
        csms.since(mark),
        conf("TriggerMessage", status="Accepted"),
        req("StatusNotification"),
    )


async def test_trigger_meter_values(csms: Csms, launch: Launch) -> None:
    """TriggerMessage(MeterValues): Accepted, then MeterValues of the connector with the
    current values of every MeterValuesSampledData measurand, context Trigger; without
    connectorId for every connector (sections 5.17, 4.7, 7.35)."""
    sim = await launch(connectors=2)
    configured = await csms.configuration("MeterValuesSampledData")
    wanted = set(configured["MeterValuesSampledData"]["value"].split(","))
    transaction_id = await begin(csms, sim, "TAG1", 1)
    mark = csms.mark()
    assert await trigger(csms, "MeterValues", 1) == "Accepted"
    frame = await csms.wait(req("MeterValues", connectorId=1), mark)
    values = sampled(frame)
    assert set(values) == wanted
    assert {v.get("context") for vs in values.values() for v in vs} == {"Trigger"}
    assert frame.payload.get("transactionId") in (None, transaction_id)
    assert_in_order(csms.since(mark), conf("TriggerMessage", status="Accepted"), req("MeterValues"))
    mark = csms.mark()
    assert await trigger(csms, "MeterValues") == "Accepted"
    for connector_id in (1, 2):
        await csms.wait(req("MeterValues", connectorId=connector_id), mark)


@pytest.mark.parametrize("message", ["DiagnosticsStatusNotification", "FirmwareStatusNotification"])
async def test_trigger_diagnostics_and_firmware_status_report_idle(
    csms: Csms, launch: Launch, message: str
) -> None:
    """TriggerMessage(DiagnosticsStatusNotification / FirmwareStatusNotification) on a charge
    point that is not uploading or updating: the notification with status Idle
    (sections 5.17, 4.4, 4.5, 7.24, 7.25)."""
    await launch()
    mark = csms.mark()
    status = await trigger(csms, message)
    assert status == "Accepted"
    await csms.wait(answered(message), mark)
    assert_in_order(
        csms.since(mark), conf("TriggerMessage", status="Accepted"), req(message, status="Idle")
    )


async def test_trigger_message_for_an_unknown_connector_is_rejected(
    csms: Csms, launch: Launch
) -> None:
    """TriggerMessage for a connectorId the charge point does not have: Rejected, and nothing
    is sent (sections 5.17, 7.44)."""
    await launch()
    mark = csms.mark()
    assert await trigger(csms, "MeterValues", 5) == "Rejected"
    assert await trigger(csms, "StatusNotification", 5) == "Rejected"
    await csms.quiet(0.3)
    assert not calls(csms.since(mark), "MeterValues", "StatusNotification")


async def test_trigger_message_of_an_unknown_message_is_not_accepted(
    csms: Csms, launch: Launch
) -> None:
    """TriggerMessage for a message 1.6 does not define: NOTIMPLEMENTED (section 5.17), or, as
    the value is outside the MessageTrigger enum, a CALLERROR for the broken payload
    (OCPP-J 4.2.3); never Accepted, and the charge point carries on (sections 5.17, 7.32)."""
    await launch()
    answer = await csms.call(
        "TriggerMessage", {"requestedMessage": "SignChargePointCertificate"}, validate=False
    )
    if answer.kind == RESULT:
        assert answer.payload == {"status": "NotImplemented"}
    else:
        assert answer.kind == ERROR
        assert answer.error in ("FormationViolation", "PropertyConstraintViolation"), answer.raw
    assert await trigger(csms, "Heartbeat") == "Accepted"


async def test_data_transfer_to_the_charge_point_for_an_unknown_vendor(
    csms: Csms, launch: Launch
) -> None:
    """DataTransfer from the CSMS for a vendorId the charge point has no implementation for:
    status UnknownVendorId and no data (sections 5.6, 4.3, 6.16, 7.23)."""
    await launch()
    result = await csms.ask(
        "DataTransfer", {"vendorId": "com.example.unknown", "messageId": "Ping", "data": "x"}
    )
    assert result == {"status": "UnknownVendorId"}


async def test_data_transfer_from_the_charge_point(csms: Csms, launch: Launch) -> None:
    """DataTransfer initiated by the charge point reaches the CSMS and the CSMS's answer is
    taken (sections 4.3, 6.15, 6.16)."""
    sim = await launch()
    mark = csms.mark()
    await sim.do("data-transfer com.example.vendor Ping hello")
    await csms.wait(answered("DataTransfer"), mark)
    assert_in_order(
        csms.since(mark),
        req("DataTransfer", vendorId="com.example.vendor"),
        answered("DataTransfer", status="Accepted"),
    )
