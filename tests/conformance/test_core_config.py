"""Core profile: GetConfiguration / ChangeConfiguration and the meter values they configure
(OCPP 1.6 edition 2, sections 5.3, 5.8, 3.16, 4.7 and chapter 9)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from .conftest import Launch
from .harness import (
    LBBRHZN_MEASURANDS,
    SIMULATOR_MEASURANDS,
    Csms,
    answered,
    assert_in_order,
    begin,
    calls,
    req,
    sampled,
)

# Chapter 9: the keys a charge point with these profiles must have (R = required there).
REQUIRED_KEYS = {
    # 9.1 Core
    "AuthorizeRemoteTxRequests": False,
    "ClockAlignedDataInterval": False,
    "ConnectionTimeOut": False,
    "ConnectorPhaseRotation": False,
    "GetConfigurationMaxKeys": True,
    "HeartbeatInterval": False,
    "LocalAuthorizeOffline": False,
    "LocalPreAuthorize": False,
    "MeterValuesAlignedData": False,
    "MeterValuesSampledData": False,
    "MeterValueSampleInterval": False,
    "NumberOfConnectors": True,
    "ResetRetries": False,
    "StopTransactionOnEVSideDisconnect": False,
    "StopTransactionOnInvalidId": False,
    "StopTxnAlignedData": False,
    "StopTxnSampledData": False,
    "SupportedFeatureProfiles": True,
    "TransactionMessageAttempts": False,
    "TransactionMessageRetryInterval": False,
    "UnlockConnectorOnEVSideDisconnect": False,
    # 9.2 Local Auth List Management
    "LocalAuthListEnabled": False,
    "LocalAuthListMaxLength": True,
    "SendLocalListMaxLength": True,
    # 9.4 Smart Charging
    "ChargeProfileMaxStackLevel": True,
    "ChargingScheduleAllowedChargingRateUnit": True,
    "ChargingScheduleMaxPeriods": True,
    "MaxChargingProfilesInstalled": True,
}


async def test_get_configuration_returns_every_key_with_its_readonly_flag(
    csms: Csms, launch: Launch
) -> None:
    """GetConfiguration without keys: every configuration key, the required ones of each
    supported profile among them, with the right readonly flag; NumberOfConnectors and
    SupportedFeatureProfiles describe this charge point (sections 5.8, 6.24, 9.1-9.4)."""
    await launch(connectors=2)
    result = await csms.ask("GetConfiguration", {})
    entries = {entry["key"]: entry for entry in result["configurationKey"]}
    assert len(entries) == len(result["configurationKey"]), "each key once"
    assert not result.get("unknownKey")
    missing = sorted(set(REQUIRED_KEYS) - set(entries))
    assert not missing, f"required keys missing: {missing}"
    wrong = {
        k: entries[k]["readonly"] for k, ro in REQUIRED_KEYS.items() if entries[k]["readonly"] != ro
    }
    assert not wrong, f"wrong readonly flags: {wrong}"
    assert entries["NumberOfConnectors"]["value"] == "2"
    profiles = set(entries["SupportedFeatureProfiles"]["value"].split(","))
    assert {
        "Core",
        "FirmwareManagement",
        "LocalAuthListManagement",
        "RemoteTrigger",
        "SmartCharging",
    } <= profiles


async def test_get_configuration_matches_keys_case_insensitively_and_lists_unknown_ones(
    csms: Csms, launch: Launch
) -> None:
    """GetConfiguration with keys: keys are CiString, so any spelling finds the key, which is
    answered in the charge point's spelling; unrecognised keys go to unknownKey
    (sections 5.8, 6.23, 6.24, 2.2 CiString)."""
    await launch()
    result = await csms.ask(
        "GetConfiguration", {"key": ["heartbeatinterval", "ConnectionTimeout", "NoSuchKey"]}
    )
    keys = [entry["key"] for entry in result["configurationKey"]]
    assert keys == ["HeartbeatInterval", "ConnectionTimeOut"]
    assert result["unknownKey"] == ["NoSuchKey"]


async def test_change_configuration_matches_keys_case_insensitively(
    csms: Csms, launch: Launch
) -> None:
    """ChangeConfiguration of "ConnectionTimeout" reaches ConnectionTimeOut (key is a
    CiString50): Accepted, and GetConfiguration shows the new value under the canonical
    spelling (sections 5.3, 6.9, 9.1 ConnectionTimeOut)."""
    await launch()
    result = await csms.ask("ChangeConfiguration", {"key": "ConnectionTimeout", "value": "42"})
    assert result == {"status": "Accepted"}
    result = await csms.ask("ChangeConfiguration", {"key": "HEARTBEATINTERVAL", "value": "200"})
    assert result == {"status": "Accepted"}
    config = await csms.ask("GetConfiguration", {"key": ["ConnectionTimeOut", "HeartbeatInterval"]})
    values = {entry["key"]: entry["value"] for entry in config["configurationKey"]}
    assert values == {"ConnectionTimeOut": "42", "HeartbeatInterval": "200"}


async def test_change_configuration_of_an_unknown_key_is_not_supported(
    csms: Csms, launch: Launch
) -> None:
    """ChangeConfiguration of a key the charge point does not have: NotSupported
    (sections 5.3, 7.22)."""
    await launch()
    result = await csms.ask("ChangeConfiguration", {"key": "NoSuchKey", "value": "1"})
    assert result == {"status": "NotSupported"}


async def test_change_configuration_of_a_readonly_key_is_rejected(
    csms: Csms, launch: Launch
) -> None:
    """ChangeConfiguration of readonly keys: Rejected, the value unchanged
    (sections 5.3, 7.22, 9.1)."""
    await launch()
    for key, value in [
        ("NumberOfConnectors", "4"),
        ("SupportedFeatureProfiles", "Core"),
        ("GetConfigurationMaxKeys", "10"),
        ("ChargeProfileMaxStackLevel", "99"),
    ]:
        result = await csms.ask("ChangeConfiguration", {"key": key, "value": value})
        assert result == {"status": "Rejected"}, f"{key}: {result}"
    config = await csms.configuration("NumberOfConnectors", "GetConfigurationMaxKeys")
    assert config["NumberOfConnectors"]["value"] == "1"
    assert config["GetConfigurationMaxKeys"]["value"] != "10"


async def test_change_configuration_with_an_invalid_value_is_rejected(
    csms: Csms, launch: Launch
) -> None:
    """ChangeConfiguration with out-of-range or badly formatted values: Rejected, the value
    unchanged (sections 5.3, 7.22)."""
    await launch()
    before = await csms.configuration()
    for key, value in [
        ("HeartbeatInterval", "abc"),
        ("HeartbeatInterval", "-5"),
        ("MeterValueSampleInterval", "1.5"),
        ("AuthorizationCacheEnabled", "maybe"),
        ("MeterValuesSampledData", "Bogus.Measurand"),
    ]:
        result = await csms.ask("ChangeConfiguration", {"key": key, "value": value})
        assert result == {"status": "Rejected"}, f"{key}={value}: {result}"
    after = await csms.configuration()
    for key in ("HeartbeatInterval", "MeterValueSampleInterval", "AuthorizationCacheEnabled"):
        assert after[key]["value"] == before[key]["value"]
    assert after["MeterValuesSampledData"]["value"] == before["MeterValuesSampledData"]["value"]


async def test_sampled_meter_values_during_a_transaction(csms: Csms, launch: Launch) -> None:
    """MeterValueSampleInterval / MeterValuesSampledData: during a transaction, MeterValues
    with the transactionId every interval, context Sample.Periodic, carrying each configured
    measurand; none of the transaction after its StopTransaction
    (sections 3.16, 4.7, 6.31, 9.1 MeterValueSampleInterval, MeterValuesSampledData)."""
    sim = await launch()
    wanted = ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Offered"]
    await csms.configure(MeterValuesSampledData=",".join(wanted), MeterValueSampleInterval=1)
    transaction_id = await begin(csms, sim)
    mark = csms.mark()
    first = await csms.wait(req("MeterValues", transactionId=transaction_id), mark, timeout=10)
    second = await csms.wait(
        req("MeterValues", transactionId=transaction_id), csms.frames.index(first) + 1, timeout=3
    )
    assert 0.6 <= second.at - first.at <= 1.6
    for frame in (first, second):
        assert frame.payload["connectorId"] == 1
        values = sampled(frame)
        assert set(values) == set(wanted), values
        assert {v.get("context") for vs in values.values() for v in vs} == {"Sample.Periodic"}
        assert values["Energy.Active.Import.Register"][0].get("unit", "Wh") in ("Wh", "kWh")
    await sim.do("swipe TAG1")
    stop = await csms.wait(req("StopTransaction", transactionId=transaction_id), mark)
    await csms.quiet(1.3)
    later = csms.since(csms.frames.index(stop) + 1)
    assert not [f for f in calls(later, "MeterValues") if f.payload.get("transactionId")], (
        "nothing of a transaction after its StopTransaction"
    )


async def test_clock_aligned_meter_values(csms: Csms, launch: Launch) -> None:
    """ClockAlignedDataInterval / MeterValuesAlignedData: MeterValues at the clock-aligned
    boundaries, context Sample.Clock, also outside a transaction (without transactionId) and
    with the transactionId during one (sections 3.16, 4.7, 9.1 ClockAlignedDataInterval,
    MeterValuesAlignedData)."""
    sim = await launch()
    await csms.configure(MeterValuesAlignedData="Energy.Active.Import.Register")
    mark = csms.mark()
    await csms.configure(ClockAlignedDataInterval=1)
    idle = await csms.wait(req("MeterValues", connectorId=1), mark, timeout=10)
    assert "transactionId" not in idle.payload
    values = sampled(idle)
    assert list(values) == ["Energy.Active.Import.Register"]
    assert values["Energy.Active.Import.Register"][0]["context"] == "Sample.Clock"
    stamp = datetime.fromisoformat(
        idle.payload["meterValue"][0]["timestamp"].replace("Z", "+00:00")
    )
    assert stamp.microsecond < 300_000, f"not aligned to the second boundary: {stamp}"
    transaction_id = await begin(csms, sim)
    during = csms.mark()
    tx = await csms.wait(req("MeterValues", transactionId=transaction_id), during, timeout=10)
    assert sampled(tx)["Energy.Active.Import.Register"][0]["context"] == "Sample.Clock"


async def test_a_measurand_list_with_an_unsupported_measurand_is_rejected_whole(
    csms: Csms, launch: Launch
) -> None:
    """MeterValuesSampledData: a list with a measurand the charge point cannot supply is
    Rejected as a whole (lbbrhzn/ocpp's 22 measurands; a single "SoC"), the value unchanged;
    a single supported one is Accepted (evcc's probe) (sections 5.3, 9.1
    MeterValuesSampledData)."""
    await launch()
    before = (await csms.configuration("MeterValuesSampledData"))["MeterValuesSampledData"]
    result = await csms.ask(
        "ChangeConfiguration",
        {"key": "MeterValuesSampledData", "value": ",".join(LBBRHZN_MEASURANDS)},
    )
    assert result == {"status": "Rejected"}
    soc = await csms.ask("ChangeConfiguration", {"key": "MeterValuesSampledData", "value": "SoC"})
    assert soc == {"status": "Rejected"}
    after = (await csms.configuration("MeterValuesSampledData"))["MeterValuesSampledData"]
    assert after["value"] == before["value"]
    single = await csms.ask(
        "ChangeConfiguration", {"key": "MeterValuesSampledData", "value": "Current.Import"}
    )
    assert single == {"status": "Accepted"}


async def test_lbbrhzn_measurand_list_accepted_with_accept_measurand_lists(
    csms: Csms, launch: Launch
) -> None:
    """With --accept-measurand-lists, lbbrhzn/ocpp's write of 22 measurands is Accepted and
    MeterValues then carry exactly the measurands the charger supplies; a single unsupported
    measurand ("SoC") alone is still Rejected (sections 5.3, 4.7, 5.17, 9.1)."""
    sim = await launch("--accept-measurand-lists")
    result = await csms.ask(
        "ChangeConfiguration",
        {"key": "MeterValuesSampledData", "value": ",".join(LBBRHZN_MEASURANDS)},
    )
    assert result == {"status": "Accepted"}
    soc = await csms.ask("ChangeConfiguration", {"key": "MeterValuesSampledData", "value": "SoC"})
    assert soc == {"status": "Rejected"}
    mark = csms.mark()
    trigger = await csms.ask(
        "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}
    )
    assert trigger == {"status": "Accepted"}
    triggered = await csms.wait(req("MeterValues", connectorId=1), mark)
    assert set(sampled(triggered)) == set(SIMULATOR_MEASURANDS)
    await csms.configure(MeterValueSampleInterval=1)
    transaction_id = await begin(csms, sim)
    periodic = await csms.wait(req("MeterValues", transactionId=transaction_id), mark, timeout=10)
    assert set(sampled(periodic)) == set(SIMULATOR_MEASURANDS)


async def test_stop_txn_sampled_data_goes_into_stop_transaction(csms: Csms, launch: Launch) -> None:
    """StopTxnSampledData: the sampled values of the transaction are reported in
    StopTransaction.transactionData (sections 4.10, 6.49, 9.1 StopTxnSampledData)."""
    sim = await launch()
    await csms.configure(
        StopTxnSampledData="Energy.Active.Import.Register", MeterValueSampleInterval=1
    )
    transaction_id = await begin(csms, sim)
    await asyncio.sleep(1.3)
    await sim.do("meter 1 1200")
    mark = csms.mark()
    await sim.do("swipe TAG1")
    await csms.wait(answered("StopTransaction"), mark)
    stop = calls(csms.since(mark), "StopTransaction")[0]
    assert stop.payload["transactionId"] == transaction_id
    data = stop.payload.get("transactionData")
    assert data, f"StopTransaction without transactionData: {stop.payload}"
    energy = [
        v
        for mv in data
        for v in mv["sampledValue"]
        if v.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
    ]
    assert energy, data
    assert_in_order(csms.since(mark), req("StopTransaction"), answered("StopTransaction"))
