"""evcc's setup and control sequence, replayed step by step against the integration.

The order and the checks follow what evcc's OCPP charger does (see shared OCPP16_NOTES): it
needs every answer to be Accepted and the keys it reads to be present and truthful; it reads
"enabled" from the status, then Current.Offered, then GetCompositeSchedule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from ocpp.v16 import call

from tests.csms import EVCC_MEASURANDS, TestCsms
from tests.integration.test_bridge import CURRENT, ENERGY, PLUG, POWER, SOC, SWITCH
from tests.integration.test_smart_charging import rig_for

MEASURANDS = EVCC_MEASURANDS


def evcc_profile(profile_id: int, stack_level: int, amps: float) -> dict[str, Any]:
    """evcc's control profile: TxDefault on the connector, Absolute, starting a minute ago."""
    start = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": start,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
        },
    }


async def test_evcc_session(hass: HomeAssistant, csms: TestCsms) -> None:
    rig = await rig_for(hass, csms)
    hass.states.async_set(SOC, "55", {"unit_of_measurement": "%"})

    # 1. ChangeAvailability(0, Operative)
    result = await csms.call(call.ChangeAvailability(connector_id=0, type="Operative"))
    assert result.status == "Accepted"

    # 2. GetConfiguration of all keys; evcc reads these
    result = await csms.call(call.GetConfiguration())
    keys = {k["key"]: k for k in result.configuration_key}
    assert result.unknown_key in (None, [])
    assert keys["NumberOfConnectors"]["value"] == "1"
    assert "SmartCharging" in keys["SupportedFeatureProfiles"]["value"].split(",")
    stack_level = int(keys["ChargeProfileMaxStackLevel"]["value"])
    assert stack_level == 8
    assert set(keys["ChargingScheduleAllowedChargingRateUnit"]["value"].split(",")) == {
        "Current",
        "Power",
    }
    profile_id = int(keys["MaxChargingProfilesInstalled"]["value"])  # evcc's profile id
    assert profile_id == 16
    assert keys["MeterValuesSampledData"]["readonly"] is False
    assert keys["ChargingScheduleMaxPeriods"]["readonly"] is True
    assert keys["ConnectorSwitch3to1PhaseSupported"]["value"] == "false"

    # 3. TriggerMessage(StatusNotification) and (BootNotification)
    after = len(csms.received)
    result = await csms.call(call.TriggerMessage(requested_message="StatusNotification"))
    assert result.status == "Accepted"
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1, after=after)
    after = len(csms.received)
    result = await csms.call(call.TriggerMessage(requested_message="BootNotification"))
    assert result.status == "Accepted"
    await csms.wait_for("BootNotification", after=after)

    # 4. Measurand probing, one per call: every one we can supply is Accepted
    hass.states.async_set(CURRENT, "0", {"unit_of_measurement": "A"})
    await hass.async_block_till_done()
    for measurand in MEASURANDS:
        result = await csms.call(
            call.ChangeConfiguration(key="MeterValuesSampledData", value=measurand)
        )
        assert (measurand, result.status) == (measurand, "Accepted")
    result = await csms.call(
        call.ChangeConfiguration(key="MeterValuesSampledData", value=",".join(MEASURANDS))
    )
    assert result.status == "Accepted"

    # 5. TriggerMessage(MeterValues), MeterValueSampleInterval=10, WebSocketPingInterval=30
    after = len(csms.received)
    result = await csms.call(call.TriggerMessage(requested_message="MeterValues", connector_id=1))
    assert result.status == "Accepted"
    await csms.wait_for("MeterValues", after=after)
    for key, value in (("MeterValueSampleInterval", "10"), ("WebSocketPingInterval", "30")):
        result = await csms.call(call.ChangeConfiguration(key=key, value=value))
        assert (key, result.status) == (key, "Accepted")

    # 6. Disabled before the car comes: TxDefaultProfile limit 0
    result = await csms.call(
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=evcc_profile(profile_id, stack_level, 0)
        )
    )
    assert result.status == "Accepted"

    # 7. The car arrives: Preparing, evcc sends RemoteStartTransaction("evcc")
    after = len(csms.received)
    hass.states.async_set(PLUG, "on")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing", after=after)
    result = await csms.call(call.RemoteStartTransaction(id_tag="evcc", connector_id=1))
    assert result.status == "Accepted"
    start = await csms.wait_for("StartTransaction")
    assert start["id_tag"] == "evcc"
    # limit 0: the session is open but SuspendedEVSE, which evcc reads as "disabled"
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")
    assert await rig.offered() == (0.0, 0.0)

    # 8. Enable at 16 A: Charging, 16 A written to the number, Current.Offered 16
    after = len(csms.received)
    result = await csms.call(
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=evcc_profile(profile_id, stack_level, 16)
        )
    )
    assert result.status == "Accepted"
    await hass.async_block_till_done()
    assert rig.switch_on[-1].data == {"entity_id": SWITCH}
    assert await rig.written() == 16.0
    hass.states.async_set(POWER, "3.68", {"unit_of_measurement": "kW"})
    hass.states.async_set(CURRENT, "16", {"unit_of_measurement": "A"})
    hass.states.async_set(ENERGY, "12.5", {"unit_of_measurement": "kWh"})
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=after)
    assert await rig.offered() == (16.0, 3680.0)
    composite = await rig.composite(60)
    assert (composite["unit"], composite["periods"]) == ("A", [(0, 16.0)])
    assert len(rig.engine.profiles.profiles) == 1  # same id: replaced, not added

    # 9. Current adjustments as the surplus changes: 6 A, then 10 A
    for amps in (6.0, 10.0):
        result = await csms.call(
            call.SetChargingProfile(
                connector_id=1, cs_charging_profiles=evcc_profile(profile_id, stack_level, amps)
            )
        )
        assert result.status == "Accepted"
        assert await rig.written() == amps
        assert (await rig.offered())[0] == amps
        assert (await rig.composite(60))["periods"] == [(0, amps)]

    # 10. Pause (limit 0) and resume: the transaction stays open throughout
    after = len(csms.received)
    await csms.call(
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=evcc_profile(profile_id, stack_level, 0)
        )
    )
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE", after=after)
    assert (await rig.composite(60))["periods"] == [(0, 0.0)]
    after = len(csms.received)
    await csms.call(
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=evcc_profile(profile_id, stack_level, 8)
        )
    )
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=after)
    assert await rig.written() == 8.0

    # 11. evcc asks for meter values when it has seen none for a while
    after = len(csms.received)
    result = await csms.call(call.TriggerMessage(requested_message="MeterValues", connector_id=1))
    assert result.status == "Accepted"
    sample = await csms.wait_for("MeterValues", after=after)
    measured = {v["measurand"] for v in sample["meter_value"][0]["sampled_value"]}
    assert measured == set(MEASURANDS)
    assert sample["transaction_id"] == start_transaction_id(csms)

    # 12. Stop: RemoteStopTransaction ends it with the right reason
    result = await csms.call(call.RemoteStopTransaction(transaction_id=start_transaction_id(csms)))
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "Remote"
    assert stop["meter_stop"] == 12500
    assert len(csms.actions("StartTransaction")) == 1


def start_transaction_id(csms: TestCsms) -> int:
    """The id the test CSMS handed out for the one StartTransaction (it counts from 1)."""
    return csms.next_transaction_id
