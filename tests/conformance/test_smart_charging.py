"""SmartCharging profile: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule and
the limit the charger is given (OCPP 1.6 edition 2, sections 3.13, 5.5, 5.7, 5.16)."""

from __future__ import annotations

from typing import Any

from .conftest import Launch
from .harness import (
    CALL,
    RESULT,
    Csms,
    Match,
    answered,
    assert_in_order,
    begin,
    calls,
    conf,
    now_iso,
    req,
    sampled,
    statuses,
)
from .sim import Simulator

HARDWARE_MAX = 16.0  # the simulator's --max-current default


def profile(
    profile_id: int,
    limits: list[tuple[int, float]],
    *,
    purpose: str = "TxDefaultProfile",
    stack_level: int = 0,
    transaction_id: int | None = None,
    duration: int | None = None,
    start_offset: float = -60,
) -> dict[str, Any]:
    """An Absolute csChargingProfiles in A; ``limits`` are (startPeriod, limit) pairs."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in limits],
    }
    if purpose != "TxProfile":
        schedule["startSchedule"] = now_iso(start_offset)
    if duration is not None:
        schedule["duration"] = duration
    data: dict[str, Any] = {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative" if purpose == "TxProfile" else "Absolute",
        "chargingSchedule": schedule,
    }
    if transaction_id is not None:
        data["transactionId"] = transaction_id
    return data


async def set_profile(csms: Csms, connector_id: int, data: dict[str, Any]) -> str:
    payload = {"connectorId": connector_id, "csChargingProfiles": data}
    status: str = (await csms.ask("SetChargingProfile", payload))["status"]
    return status


async def composite(csms: Csms, connector_id: int, duration: int = 300) -> list[float]:
    """The limits of GetCompositeSchedule in A, period by period."""
    result = await csms.ask(
        "GetCompositeSchedule",
        {"connectorId": connector_id, "duration": duration, "chargingRateUnit": "A"},
    )
    assert result["status"] == "Accepted", result
    schedule = result["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "A"
    return [float(p["limit"]) for p in schedule["chargingSchedulePeriod"]]


async def hardware_limit(sim: Simulator, connector_id: int, amps: float, after: int = 0) -> None:
    await sim.wait_event(
        "hardware", after, action="limit", connector_id=connector_id, amps=lambda a: a == amps
    )


def last_limit(sim: Simulator, connector_id: int) -> float:
    events = sim.find("hardware", action="limit", connector_id=connector_id)
    assert events, f"no hardware limit for connector {connector_id}"
    return float(events[-1]["amps"] or 0.0)


async def offered(csms: Csms, connector_id: int = 1) -> float:
    """Current.Offered of a triggered MeterValues (MeterValuesSampledData includes it)."""
    mark = csms.mark()
    result = await csms.ask(
        "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": connector_id}
    )
    assert result == {"status": "Accepted"}
    frame = await csms.wait(req("MeterValues", connectorId=connector_id), mark)
    values = sampled(frame).get("Current.Offered")
    assert values, f"no Current.Offered in {frame.payload}"
    return float(values[0]["value"])


async def test_tx_default_profile_limits_transactions(csms: Csms, launch: Launch) -> None:
    """TxDefaultProfile on connector 0 applies to every connector, one on a connector
    replaces it only there; a new transaction is limited accordingly (hardware limit,
    Current.Offered) (sections 3.13.1, 5.16.4, 4.7)."""
    sim = await launch(connectors=2)
    await csms.configure(MeterValuesSampledData="Energy.Active.Import.Register,Current.Offered")
    assert await set_profile(csms, 0, profile(1, [(0, 12.0)])) == "Accepted"
    assert await set_profile(csms, 2, profile(2, [(0, 8.0)])) == "Accepted"
    assert (await composite(csms, 1))[0] == 12.0
    assert (await composite(csms, 2))[0] == 8.0
    events = sim.mark()
    await begin(csms, sim, "TAG1", 1)
    await hardware_limit(sim, 1, 12.0, events)
    assert await offered(csms, 1) == 12.0
    await begin(csms, sim, "TAG2", 2)
    await hardware_limit(sim, 2, 8.0, events)
    assert await offered(csms, 2) == 8.0


async def test_tx_profile_during_a_transaction_overrides_the_default_and_ends_with_it(
    csms: Csms, launch: Launch
) -> None:
    """TxProfile with the running transaction's id: Accepted, overrules the TxDefaultProfile
    (hardware limit and Current.Offered follow at once) and is deleted when the transaction
    ends (sections 3.13.1, 5.16.3, 7.8)."""
    sim = await launch()
    await csms.configure(MeterValuesSampledData="Energy.Active.Import.Register,Current.Offered")
    assert await set_profile(csms, 1, profile(1, [(0, 12.0)])) == "Accepted"
    transaction_id = await begin(csms, sim)
    events = sim.mark()
    tx = profile(2, [(0, 7.0)], purpose="TxProfile", transaction_id=transaction_id, stack_level=1)
    assert await set_profile(csms, 1, tx) == "Accepted"
    await hardware_limit(sim, 1, 7.0, events)
    assert await offered(csms) == 7.0
    assert (await composite(csms, 1))[0] == 7.0
    mark = csms.mark()
    await sim.do("swipe TAG1")
    await csms.wait(answered("StopTransaction"), mark)
    assert (await composite(csms, 1))[0] == 12.0, "the TxProfile ends with its transaction"
    cleared = await csms.ask("ClearChargingProfile", {"id": 2})
    assert cleared == {"status": "Unknown"}, "the TxProfile was deleted with the transaction"


async def test_tx_profile_without_a_transaction_is_rejected(csms: Csms, launch: Launch) -> None:
    """SetChargingProfile TxProfile with no transaction on the connector: Rejected
    (sections 3.13.1, 5.16.4, 7.11)."""
    await launch()
    data = profile(3, [(0, 6.0)], purpose="TxProfile")
    assert await set_profile(csms, 1, data) == "Rejected"
    assert (await composite(csms, 1))[0] == HARDWARE_MAX


async def test_tx_profile_with_a_wrong_transaction_id_is_rejected(
    csms: Csms, launch: Launch
) -> None:
    """SetChargingProfile TxProfile naming another transactionId than the running one:
    Rejected, the limit unchanged (sections 5.16.3, 7.8)."""
    sim = await launch()
    transaction_id = await begin(csms, sim)
    events = sim.mark()
    data = profile(4, [(0, 6.0)], purpose="TxProfile", transaction_id=transaction_id + 7)
    assert await set_profile(csms, 1, data) == "Rejected"
    await csms.quiet(0.3)
    assert not sim.find("hardware", events, action="limit", connector_id=1)
    assert last_limit(sim, 1) == HARDWARE_MAX


async def test_limit_changes_during_a_transaction_reach_the_charger(
    csms: Csms, launch: Launch
) -> None:
    """A TxDefaultProfile replaced during a transaction (same chargingProfileId): the new
    limit is applied at once (hardware limit, Current.Offered in the periodic MeterValues); a
    limit of 0 suspends charging (SuspendedEVSE) without ending the transaction
    (sections 3.13.2, 5.16.4, 4.7, 4.9 C5)."""
    sim = await launch()
    await csms.configure(
        MeterValuesSampledData="Energy.Active.Import.Register,Current.Offered",
        MeterValueSampleInterval=1,
    )
    assert await set_profile(csms, 1, profile(1, [(0, 12.0)])) == "Accepted"
    transaction_id = await begin(csms, sim)
    events, mark = sim.mark(), csms.mark()
    assert await set_profile(csms, 1, profile(1, [(0, 6.0)])) == "Accepted"
    await hardware_limit(sim, 1, 6.0, events)
    frame = await csms.wait(
        req(
            "MeterValues",
            transactionId=transaction_id,
            where=lambda p: float(sampled_offered(p)) == 6.0,
        ),
        mark,
        timeout=10,
    )
    assert frame.payload["connectorId"] == 1
    assert await set_profile(csms, 1, profile(1, [(0, 0.0)])) == "Accepted"
    await csms.wait(req("StatusNotification", connectorId=1, status="SuspendedEVSE"), mark)
    assert not calls(csms.since(mark), "StopTransaction"), "a limit of 0 pauses, never stops"
    assert await set_profile(csms, 1, profile(1, [(0, 10.0)])) == "Accepted"
    await hardware_limit(sim, 1, 10.0, events)
    await csms.wait(req("StatusNotification", connectorId=1, status="Charging"), mark)
    assert statuses(csms.since(mark), 1)[-2:] == ["SuspendedEVSE", "Charging"]


def sampled_offered(payload: dict[str, Any]) -> str:
    for meter_value in payload["meterValue"]:
        for value in meter_value["sampledValue"]:
            if value.get("measurand") == "Current.Offered":
                return str(value["value"])
    raise KeyError("Current.Offered")


async def test_get_composite_schedule(csms: Csms, launch: Launch) -> None:
    """GetCompositeSchedule: Accepted with the connectorId, scheduleStart and the periods of
    the profile in force from now, in the unit asked for; an unknown connectorId is Rejected
    (sections 5.7, 6.21, 6.22, 7.13)."""
    await launch()
    data = profile(1, [(0, 10.0), (120, 6.0)], start_offset=0)
    assert await set_profile(csms, 1, data) == "Accepted"
    result = await csms.ask(
        "GetCompositeSchedule", {"connectorId": 1, "duration": 300, "chargingRateUnit": "A"}
    )
    assert result["status"] == "Accepted"
    assert result["connectorId"] == 1
    assert "scheduleStart" in result
    schedule = result["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "A"
    periods = schedule["chargingSchedulePeriod"]
    assert [float(p["limit"]) for p in periods][:2] == [10.0, 6.0]
    assert periods[0]["startPeriod"] == 0
    assert 110 <= periods[1]["startPeriod"] <= 121
    unknown = await csms.ask("GetCompositeSchedule", {"connectorId": 9, "duration": 60})
    assert unknown["status"] == "Rejected"


async def test_stacking_the_highest_stack_level_in_force_wins(csms: Csms, launch: Launch) -> None:
    """Stacked TxDefaultProfiles: the highest stackLevel valid at a time prevails, a lower one
    fills in after its duration; the same stackLevel and purpose replaces the installed
    profile (sections 3.13.2, 5.16.4)."""
    await launch()
    assert await set_profile(csms, 1, profile(1, [(0, 10.0)], stack_level=0)) == "Accepted"
    upper = profile(2, [(0, 6.0)], stack_level=1, duration=180, start_offset=0)
    assert await set_profile(csms, 1, upper) == "Accepted"
    assert (await composite(csms, 1, 300))[:2] == [6.0, 10.0]
    same_level = profile(3, [(0, 8.0)], stack_level=0)
    assert await set_profile(csms, 1, same_level) == "Accepted"
    assert (await composite(csms, 1, 300))[:2] == [6.0, 8.0]
    assert await csms.ask("ClearChargingProfile", {"id": 1}) == {"status": "Unknown"}, (
        "profile 1 was replaced by profile 3 (same stackLevel and purpose)"
    )


async def test_clear_charging_profile_by_id_and_by_criteria(csms: Csms, launch: Launch) -> None:
    """ClearChargingProfile by id, then by connectorId/purpose/stackLevel: Accepted when
    something was cleared (the limit goes back), Unknown when nothing matched
    (sections 5.5, 6.13, 6.14, 7.21)."""
    await launch(connectors=2)
    assert await set_profile(csms, 1, profile(1, [(0, 10.0)], stack_level=0)) == "Accepted"
    assert await set_profile(csms, 1, profile(2, [(0, 8.0)], stack_level=1)) == "Accepted"
    max_profile = profile(3, [(0, 14.0)], purpose="ChargePointMaxProfile")
    assert await set_profile(csms, 0, max_profile) == "Accepted"
    assert (await composite(csms, 1))[0] == 8.0
    assert await csms.ask("ClearChargingProfile", {"id": 2}) == {"status": "Accepted"}
    assert (await composite(csms, 1))[0] == 10.0
    assert await csms.ask("ClearChargingProfile", {"id": 2}) == {"status": "Unknown"}
    by_purpose = {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0}
    assert await csms.ask("ClearChargingProfile", by_purpose) == {"status": "Accepted"}
    assert (await composite(csms, 1))[0] == 14.0
    by_connector = {"connectorId": 0, "chargingProfilePurpose": "ChargePointMaxProfile"}
    assert await csms.ask("ClearChargingProfile", by_connector) == {"status": "Accepted"}
    assert (await composite(csms, 1))[0] == HARDWARE_MAX
    nothing = {"chargingProfilePurpose": "TxDefaultProfile"}
    assert await csms.ask("ClearChargingProfile", nothing) == {"status": "Unknown"}


async def test_profile_purposes_on_the_wrong_connector_are_rejected(
    csms: Csms, launch: Launch
) -> None:
    """ChargePointMaxProfile only on connectorId 0, TxProfile only on a connector > 0:
    otherwise Rejected (sections 3.13.1, 7.11)."""
    sim = await launch()
    transaction_id = await begin(csms, sim)
    max_on_connector = profile(5, [(0, 10.0)], purpose="ChargePointMaxProfile")
    assert await set_profile(csms, 1, max_on_connector) == "Rejected"
    tx_on_zero = profile(6, [(0, 10.0)], purpose="TxProfile", transaction_id=transaction_id)
    assert await set_profile(csms, 0, tx_on_zero) == "Rejected"


async def test_remote_start_with_a_tx_profile(csms: Csms, launch: Launch) -> None:
    """RemoteStartTransaction with a chargingProfile (purpose TxProfile, no transactionId):
    Accepted and the profile limits the transaction it starts; one whose purpose is not
    TxProfile is Rejected (sections 5.11, 5.16.2)."""
    sim = await launch()
    wrong = {
        "connectorId": 1,
        "idTag": "REMOTE1",
        "chargingProfile": profile(8, [(0, 9.0)]),
    }
    assert await csms.ask("RemoteStartTransaction", wrong) == {"status": "Rejected"}
    mark, events = csms.mark(), sim.mark()
    request = {
        "connectorId": 1,
        "idTag": "REMOTE1",
        "chargingProfile": profile(7, [(0, 9.0)], purpose="TxProfile"),
    }
    assert await csms.ask("RemoteStartTransaction", request) == {"status": "Accepted"}
    await sim.do("plug 1")
    await csms.wait(answered("StartTransaction"), mark)
    await hardware_limit(sim, 1, 9.0, events)
    assert (await composite(csms, 1))[0] == 9.0
    assert_in_order(
        csms.since(mark),
        conf("RemoteStartTransaction", status="Accepted"),
        req("StartTransaction", idTag="REMOTE1"),
    )


async def test_charge_point_max_profile_is_shared_by_the_connectors(
    csms: Csms, launch: Launch
) -> None:
    """ChargePointMaxProfile of 10 A on a two-connector charge point: the limit is for all
    connectors combined, so with both charging their hardware limits add up to 10 A, and the
    composite schedule of connector 0 reports 10 A (sections 3.13.1, 3.13.3, 5.7)."""
    sim = await launch(connectors=2)
    max_profile = profile(1, [(0, 10.0)], purpose="ChargePointMaxProfile")
    assert await set_profile(csms, 0, max_profile) == "Accepted"
    await begin(csms, sim, "TAG1", 1)
    await begin(csms, sim, "TAG2", 2)
    await csms.quiet(0.5)
    first, second = last_limit(sim, 1), last_limit(sim, 2)
    assert first + second <= 10.0 + 1e-6, f"connectors get {first} A + {second} A > 10 A"
    assert first + second >= 10.0 - 0.01, f"{first} A + {second} A leaves the limit unused"
    assert (await composite(csms, 0))[0] == 10.0


async def test_tx_profile_sent_right_after_start_transaction_conf_is_accepted(
    csms: Csms, launch: Launch
) -> None:
    """A CSMS that sets the transaction's TxProfile the moment it has answered
    StartTransaction (the use case of section 5.16.1): the charge point received the
    transactionId before the SetChargingProfile.req on the same connection, so the profile is
    Accepted every time (several sessions in a row, as the timing varies) (sections 5.16.1,
    3.13.1, 7.8)."""
    sim = await launch()

    def tx_profile(transaction_id: int) -> tuple[str, dict[str, Any]]:
        data = profile(9, [(0, 7.0)], purpose="TxProfile", transaction_id=transaction_id)
        return "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": data}

    csms.follow_start = tx_profile
    refused: list[str] = []
    for session in range(8):
        mark = csms.mark()
        await sim.do("plug 1")
        assert (await sim.do(f"swipe TAG{session} 1"))["result"] == "started"
        start = await csms.wait(answered("StartTransaction"), mark)
        transaction_id = start.payload["transactionId"]
        answer = await csms.answer_to_followed(transaction_id)
        status = answer.payload.get("status") if answer.kind == RESULT else answer.raw
        if status != "Accepted":
            refused.append(f"transaction {transaction_id}: {status}")
        assert_in_order(
            csms.since(mark),
            answered("StartTransaction", transactionId=transaction_id),
            Match("csms", CALL, "SetChargingProfile"),
            conf("SetChargingProfile"),
        )
        await sim.do(f"swipe TAG{session} 1")
        await sim.do("unplug 1")
        await csms.wait(answered("StopTransaction"), mark)
        await csms.wait(req("StatusNotification", connectorId=1, status="Available"), mark)
    assert not refused, (
        "SetChargingProfile(TxProfile with the transactionId) sent right after "
        "StartTransaction.conf was not Accepted: " + ", ".join(refused)
    )
