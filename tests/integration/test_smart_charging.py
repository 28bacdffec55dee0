"""Smart charging through the whole stack: a real CSMS on 127.0.0.1 sends charging profiles,
the integration in a real HA test instance writes the limit to the mapped number entity and
reports it as Current.Offered. Every expected value below is worked out by hand."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import ServiceValidationError
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.ocpp_cp.const import DOMAIN
from custom_components.ocpp_cp.engine import ChargePointEngine
from custom_components.ocpp_cp.engine.clock import Clock
from tests.csms import TestCsms
from tests.integration.test_bridge import ENERGY, NUMBER, PLUG, POWER, SWITCH, set_up


class OffsetClock(Clock):
    """Real time shifted by ``offset``: a test jumps to just before a boundary, then waits."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def jump_to(self, moment: datetime) -> None:
        self.offset = moment.timestamp() - time.time()


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def profile(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack_level: int = 0,
    kind: str = "Absolute",
    unit: str = "A",
    start: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    if start is not None:
        schedule["startSchedule"] = stamp(start)
    for key in ("duration", "minChargingRate"):
        if key in extra:
            schedule[key] = extra.pop(key)
    if "number_phases" in extra:
        for period in schedule["chargingSchedulePeriod"]:
            period["numberPhases"] = extra["number_phases"]
        extra.pop("number_phases")
    body = {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    body.update(extra)
    return body


@dataclass
class Rig:
    hass: HomeAssistant
    csms: TestCsms
    entry: MockConfigEntry
    set_value: list[ServiceCall]
    switch_on: list[ServiceCall]
    switch_off: list[ServiceCall]
    clock: OffsetClock = field(default_factory=OffsetClock)

    @property
    def engine(self) -> ChargePointEngine:
        engine: ChargePointEngine = self.entry.runtime_data.engine
        return engine

    async def set_profile(self, connector_id: int, body: dict[str, Any]) -> str:
        result = await self.csms.call(
            call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=body)
        )
        await self.hass.async_block_till_done()
        return str(result.status)

    async def clear(self, **criteria: Any) -> str:
        result = await self.csms.call(call.ClearChargingProfile(**criteria))
        await self.hass.async_block_till_done()
        return str(result.status)

    async def composite(
        self, duration: int, unit: str | None = None, connector_id: int = 1
    ) -> dict[str, Any]:
        request = call.GetCompositeSchedule(
            connector_id=connector_id, duration=duration, charging_rate_unit=unit
        )
        result = await self.csms.call(request)
        assert result.status == "Accepted"
        return {
            "start": result.schedule_start,
            "unit": result.charging_schedule["charging_rate_unit"],
            "periods": [
                (p["start_period"], p["limit"])
                for p in result.charging_schedule["charging_schedule_period"]
            ],
        }

    async def written(self) -> float:
        """The last value the integration wrote to the mapped number entity."""
        await self.hass.async_block_till_done()
        assert self.set_value, "nothing was written to the number entity"
        return float(self.set_value[-1].data["value"])

    async def offered(self) -> tuple[float, float]:
        """Current.Offered and Power.Offered as the CSMS receives them right now."""
        after = len(self.csms.received)
        result = await self.csms.call(
            call.TriggerMessage(requested_message="MeterValues", connector_id=1)
        )
        assert result.status == "Accepted"
        values = await self.csms.wait_for("MeterValues", after=after)
        sampled = {
            v["measurand"]: float(v["value"]) for v in values["meter_value"][0]["sampled_value"]
        }
        return sampled["Current.Offered"], sampled["Power.Offered"]

    async def start_session(self) -> None:
        self.hass.states.async_set(PLUG, "on")
        after = len(self.csms.received)
        await self.hass.services.async_call(
            DOMAIN,
            "start_transaction",
            {"config_entry_id": self.entry.entry_id},
            blocking=True,
        )
        await self.csms.wait_for("StartTransaction", after=after)
        self.hass.states.async_set(POWER, "3.0", {"unit_of_measurement": "kW"})
        await self.hass.async_block_till_done()

    async def stop_session(self) -> None:
        after = len(self.csms.received)
        await self.hass.services.async_call(
            DOMAIN,
            "stop_transaction",
            {"config_entry_id": self.entry.entry_id},
            blocking=True,
        )
        await self.csms.wait_for("StopTransaction", after=after)
        self.hass.states.async_set(POWER, "0", {"unit_of_measurement": "kW"})
        await self.hass.async_block_till_done()

    def jump_to(self, moment: datetime) -> None:
        self.clock.jump_to(moment)
        self.engine.recheck_limits()

    def sensor(self, key: str) -> str:
        state = self.hass.states.get(f"sensor.cp1_{key}")
        assert state is not None, key
        return state.state


async def rig_for(hass: HomeAssistant, csms: TestCsms, **mapping: Any) -> Rig:
    set_value = async_mock_service(hass, "number", "set_value")
    switch_on = async_mock_service(hass, "switch", "turn_on")
    switch_off = async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms, **mapping)
    rig = Rig(hass, csms, entry, set_value, switch_on, switch_off)
    rig.engine.clock = rig.clock
    await csms.call(
        call.ChangeConfiguration(
            key="MeterValuesSampledData", value="Current.Offered,Power.Offered"
        )
    )
    return rig


async def wait_until(rig: Rig, moment: datetime) -> None:
    """Sleep (real time) until the rig's clock reads ``moment`` plus a little slack."""
    delay = moment.timestamp() - rig.clock.time() + 0.25
    await asyncio.sleep(max(0.0, delay))
    await rig.hass.async_block_till_done()


def whole_second() -> datetime:
    """A whole second a little ahead, so boundaries and composite offsets are exact."""
    return datetime.fromtimestamp(int(time.time()) + 1, UTC)


async def test_the_three_purposes_stack_and_tx_profiles_end_with_the_transaction(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    rig = await rig_for(hass, csms)
    past = datetime(2026, 1, 1, tzinfo=UTC)
    assert await rig.set_profile(0, profile(1, "TxDefaultProfile", [(0, 20)], start=past)) == (
        "Accepted"
    )
    await rig.start_session()
    assert await rig.written() == 20.0  # TxDefault on connector 0
    assert await rig.offered() == (20.0, 4600.0)  # 20 A x 230 V x 1 phase
    assert rig.sensor("limit_source") == "tx_default_profile"

    assert await rig.set_profile(1, profile(2, "TxDefaultProfile", [(0, 16)], start=past)) == (
        "Accepted"
    )
    assert await rig.written() == 16.0  # same stack level: the connector's own TxDefault wins
    assert await rig.set_profile(1, profile(3, "TxProfile", [(0, 24)], start=past)) == "Accepted"
    assert await rig.written() == 24.0  # TxProfile replaces TxDefault while the session runs
    assert rig.sensor("limit_source") == "tx_profile"
    assert await rig.set_profile(0, profile(4, "ChargePointMaxProfile", [(0, 10)], start=past)) == (
        "Accepted"
    )
    assert await rig.written() == 10.0  # ChargePointMax caps everything
    assert await rig.offered() == (10.0, 2300.0)
    assert rig.sensor("limit_in_force") == "10.0"
    assert rig.sensor("limit_source") == "charge_point_max"
    source = hass.states.get("sensor.cp1_limit_source")
    assert source is not None
    assert source.attributes["profile_id"] == 4

    assert await rig.clear(charging_profile_purpose="ChargePointMaxProfile") == "Accepted"
    assert await rig.written() == 24.0
    await rig.stop_session()
    assert [p.profile_id for p in rig.engine.profiles.profiles] == [1, 2]  # TxProfile 3 gone
    await rig.start_session()
    assert await rig.written() == 16.0
    assert await rig.offered() == (16.0, 3680.0)


async def test_tx_default_on_connector_0_and_1_are_one_stack_3_13_2(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    """The highest stack level wins across connector 0 and the connector; at the same level
    the connector's own. Composite periods carry numberPhases (1: the default rig is wired
    for one phase)."""
    rig = await rig_for(hass, csms)
    past = datetime(2026, 1, 1, tzinfo=UTC)
    await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 16)], stack_level=1, start=past))
    await rig.set_profile(0, profile(2, "TxDefaultProfile", [(0, 12)], stack_level=2, start=past))
    await rig.start_session()
    assert await rig.written() == 12.0  # connector 0's level 2 beats connector 1's level 1
    assert rig.sensor("limit_source") == "tx_default_profile"
    await rig.set_profile(1, profile(3, "TxDefaultProfile", [(0, 10)], stack_level=2, start=past))
    assert await rig.written() == 10.0  # level 2 on both: the connector's own wins
    assert (await rig.composite(60))["periods"] == [(0, 10.0)]
    answer = await csms.call(call.GetCompositeSchedule(connector_id=1, duration=60))
    assert answer.charging_schedule["charging_schedule_period"] == [
        {"start_period": 0, "limit": 10.0, "number_phases": 1}
    ]
    assert await rig.clear(id=3) == "Accepted"
    assert await rig.written() == 12.0


async def test_two_stack_levels_with_gaps_follow_the_clock(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    rig = await rig_for(hass, csms)
    t0 = whole_second()
    rig.jump_to(t0)
    # level 0: 8 A for good; level 1: 20 A from t0+2 s for 2 s, a gap before and after it
    await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 8)], start=t0 - timedelta(60)))
    await rig.set_profile(
        1,
        profile(
            2,
            "TxDefaultProfile",
            [(0, 20)],
            stack_level=1,
            start=t0 + timedelta(seconds=2),
            duration=2,
        ),
    )
    assert (await rig.composite(6))["periods"] == [(0, 8.0), (2, 20.0), (4, 8.0)]
    await rig.start_session()
    assert await rig.written() == 8.0
    assert (await rig.offered())[0] == 8.0
    assert rig.sensor("next_limit_change") == (t0 + timedelta(seconds=2)).isoformat()
    await wait_until(rig, t0 + timedelta(seconds=2))
    assert await rig.written() == 20.0  # applied at the boundary, no CSMS message needed
    assert (await rig.offered())[0] == 20.0
    await wait_until(rig, t0 + timedelta(seconds=4))
    assert await rig.written() == 8.0
    assert (await rig.offered())[0] == 8.0


async def test_daily_recurrence_keeps_local_time_across_the_autumn_dst_change(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    rig = await rig_for(hass, csms)
    # Every day from 22:00 local: 6 A for 8 h, then 16 A. First occurrence 24 Oct 22:00 CEST
    # (20:00Z). The next is 25 Oct 22:00 CET = 21:00Z, 25 h later: the clocks went back.
    first = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
    body = profile(1, "TxDefaultProfile", [(0, 6), (8 * 3600, 16)], kind="Recurring", start=first)
    body["recurrencyKind"] = "Daily"
    rig.jump_to(datetime(2026, 10, 24, 21, 59, 58, tzinfo=UTC))  # 23:59:58 CEST
    assert await rig.set_profile(1, body) == "Accepted"
    await rig.start_session()
    assert await rig.written() == 6.0  # across midnight the night period goes on
    await wait_until(rig, datetime(2026, 10, 24, 22, 0, 0, tzinfo=UTC))
    assert (await rig.offered())[0] == 6.0
    rig.jump_to(datetime(2026, 10, 25, 3, 59, 59, tzinfo=UTC))  # 04:59:59 CET, 8 h after 20:00Z
    await rig.hass.async_block_till_done()
    assert await rig.written() == 6.0
    await wait_until(rig, datetime(2026, 10, 25, 4, 0, 0, tzinfo=UTC))
    assert await rig.written() == 16.0
    assert (await rig.offered())[0] == 16.0
    # 21:59:59 CET: a fixed 24 h cycle would already be at 6 A (since 20:00Z); local time is not
    rig.jump_to(datetime(2026, 10, 25, 20, 59, 59, tzinfo=UTC))
    await rig.hass.async_block_till_done()
    assert await rig.written() == 16.0
    await wait_until(rig, datetime(2026, 10, 25, 21, 0, 0, tzinfo=UTC))
    assert await rig.written() == 6.0
    assert (await rig.offered())[0] == 6.0

    rig.jump_to(datetime(2026, 10, 25, 20, 0, 0, tzinfo=UTC))
    composite = await rig.composite(86400)
    assert composite["start"] == "2026-10-25T20:00:00Z"
    # 16 A until 21:00Z, 6 A for 8 h, 16 A until the next occurrence (26 Oct 21:00Z, past the end)
    assert composite["periods"] == [(0, 16.0), (3600, 6.0), (32400, 16.0)]


async def test_weekly_recurrence_across_the_spring_dst_change(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    rig = await rig_for(hass, csms)
    # Sundays from 08:00 local: 10 A for an hour, then 20 A. 22 Mar 08:00 CET = 07:00Z;
    # 29 Mar 08:00 CEST = 06:00Z (a week minus the hour the clocks went forward).
    body = profile(
        1,
        "TxDefaultProfile",
        [(0, 10), (3600, 20)],
        kind="Recurring",
        start=datetime(2026, 3, 22, 7, 0, tzinfo=UTC),
    )
    body["recurrencyKind"] = "Weekly"
    rig.jump_to(datetime(2026, 3, 29, 5, 59, 58, tzinfo=UTC))
    assert await rig.set_profile(1, body) == "Accepted"
    await rig.start_session()
    assert await rig.written() == 20.0
    await wait_until(rig, datetime(2026, 3, 29, 6, 0, 0, tzinfo=UTC))
    assert await rig.written() == 10.0
    assert (await rig.offered())[0] == 10.0
    rig.jump_to(datetime(2026, 3, 29, 6, 0, 0, tzinfo=UTC))
    composite = await rig.composite(7200)
    assert composite["periods"] == [(0, 10.0), (3600, 20.0)]


async def test_relative_profile_starts_with_the_transaction(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    rig = await rig_for(hass, csms)
    body = profile(1, "TxDefaultProfile", [(0, 10), (2, 16)], kind="Relative")
    assert await rig.set_profile(1, body) == "Accepted"
    await rig.start_session()
    started = datetime.fromisoformat(rig.engine.connectors[1].transaction.started_at)  # type: ignore[union-attr]
    assert await rig.written() == 10.0
    assert (await rig.offered())[0] == 10.0
    await wait_until(rig, started + timedelta(seconds=2))
    assert await rig.written() == 16.0
    assert (await rig.offered())[0] == 16.0


async def test_valid_from_and_valid_to_edges(hass: HomeAssistant, csms: TestCsms) -> None:
    rig = await rig_for(hass, csms)
    t0 = whole_second()
    rig.jump_to(t0)
    await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 16)], start=t0 - timedelta(1)))
    window = profile(
        2,
        "TxDefaultProfile",
        [(0, 8)],
        stack_level=2,
        start=t0 - timedelta(1),
        validFrom=stamp(t0 + timedelta(seconds=1)),
        validTo=stamp(t0 + timedelta(seconds=3)),
    )
    assert await rig.set_profile(1, window) == "Accepted"
    # valid from t0+1 (inclusive) to t0+3 (exclusive)
    assert (await rig.composite(5))["periods"] == [(0, 16.0), (1, 8.0), (3, 16.0)]
    await rig.start_session()
    assert await rig.written() == 16.0
    await wait_until(rig, t0 + timedelta(seconds=1))
    assert await rig.written() == 8.0
    assert (await rig.offered())[0] == 8.0
    await wait_until(rig, t0 + timedelta(seconds=3))
    assert await rig.written() == 16.0
    assert (await rig.offered())[0] == 16.0


@pytest.mark.parametrize(
    ("phases", "watts", "number_phases", "amps", "power_offered"),
    [
        (1, 2300, None, 10.0, 2300.0),  # 2300 W / 230 V / 1 phase
        (1, 2300, 3, 10.0, 2300.0),  # a single-phase charger uses one phase whatever it says
        (3, 6900, None, 10.0, 6900.0),  # 6900 W / (230 V x 3)
        (3, 6900, 3, 10.0, 6900.0),
        (3, 4140, None, 6.0, 4140.0),
    ],
)
async def test_watt_limits_become_amps_with_the_phase_count(
    hass: HomeAssistant,
    csms: TestCsms,
    phases: int,
    watts: int,
    number_phases: int | None,
    amps: float,
    power_offered: float,
) -> None:
    rig = await rig_for(hass, csms, phases=phases)
    extra = {} if number_phases is None else {"number_phases": number_phases}
    body = profile(
        1,
        "TxDefaultProfile",
        [(0, watts)],
        unit="W",
        start=datetime(2026, 1, 1, tzinfo=UTC),
        **extra,
    )
    assert await rig.set_profile(1, body) == "Accepted"
    await rig.start_session()
    assert await rig.written() == amps
    assert await rig.offered() == (amps, power_offered)
    composite_w = await rig.composite(60, "W")
    assert (composite_w["unit"], composite_w["periods"]) == ("W", [(0, float(watts))])
    composite_a = await rig.composite(60, "A")
    assert (composite_a["unit"], composite_a["periods"]) == ("A", [(0, amps)])


async def test_clear_charging_profile_by_id_connector_purpose_and_stack_level(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    rig = await rig_for(hass, csms)
    past = datetime(2026, 1, 1, tzinfo=UTC)
    await rig.set_profile(0, profile(1, "TxDefaultProfile", [(0, 20)], start=past))
    await rig.set_profile(1, profile(2, "TxDefaultProfile", [(0, 16)], stack_level=1, start=past))
    await rig.set_profile(1, profile(3, "TxDefaultProfile", [(0, 12)], stack_level=2, start=past))
    await rig.set_profile(0, profile(4, "ChargePointMaxProfile", [(0, 25)], start=past))
    await rig.start_session()
    assert await rig.written() == 12.0
    assert await rig.clear(stack_level=2, charging_profile_purpose="TxDefaultProfile") == (
        "Accepted"
    )
    assert await rig.written() == 16.0
    assert await rig.clear(id=2) == "Accepted"
    assert await rig.written() == 20.0
    assert await rig.clear(id=99) == "Unknown"
    assert await rig.clear(connector_id=1) == "Unknown"  # nothing left on connector 1
    assert await rig.clear(connector_id=0, charging_profile_purpose="TxDefaultProfile") == (
        "Accepted"
    )
    assert await rig.written() == 25.0
    assert (await rig.offered())[0] == 25.0
    assert await rig.clear() == "Accepted"  # no criteria: everything
    assert await rig.written() == 32.0  # the number's maximum, the hardware limit
    assert rig.sensor("limit_source") == "hardware"
    assert rig.engine.profiles.profiles == ()


async def test_remote_start_with_a_tx_profile(hass: HomeAssistant, csms: TestCsms) -> None:
    rig = await rig_for(hass, csms)
    hass.states.async_set(PLUG, "on")
    await hass.async_block_till_done()
    body = profile(7, "TxProfile", [(0, 14)], kind="Relative")
    result = await csms.call(
        call.RemoteStartTransaction(id_tag="CSMS", connector_id=1, charging_profile=body)
    )
    assert result.status == "Accepted"
    await csms.wait_for("StartTransaction")
    assert await rig.written() == 14.0
    assert [p.profile_id for p in rig.engine.profiles.profiles] == [7]
    await rig.stop_session()
    assert rig.engine.profiles.profiles == ()
    refused = profile(8, "TxDefaultProfile", [(0, 14)], kind="Relative")
    result = await csms.call(
        call.RemoteStartTransaction(id_tag="CSMS", connector_id=1, charging_profile=refused)
    )
    assert result.status == "Rejected"  # only a TxProfile may ride on RemoteStartTransaction


async def test_refusals(hass: HomeAssistant, csms: TestCsms) -> None:
    rig = await rig_for(hass, csms)
    past = datetime(2026, 1, 1, tzinfo=UTC)
    # TxProfile without a transaction, ChargePointMax on a connector, unknown connector
    assert await rig.set_profile(1, profile(1, "TxProfile", [(0, 10)], start=past)) == "Rejected"
    assert await rig.set_profile(1, profile(2, "ChargePointMaxProfile", [(0, 10)], start=past)) == (
        "Rejected"
    )
    assert await rig.set_profile(5, profile(3, "TxDefaultProfile", [(0, 10)])) == "Rejected"
    too_high = profile(4, "TxDefaultProfile", [(0, 10)], stack_level=9, start=past)
    assert await rig.set_profile(1, too_high) == "Rejected"  # ChargeProfileMaxStackLevel = 8
    periods = [(i * 60, 10) for i in range(25)]
    assert await rig.set_profile(1, profile(5, "TxDefaultProfile", periods, start=past)) == (
        "Rejected"
    )  # ChargingScheduleMaxPeriods = 24
    for number in range(16):
        body = profile(
            10 + number, "TxDefaultProfile", [(0, 10)], stack_level=number % 8, start=past
        )
        assert await rig.set_profile(number // 8, body) == "Accepted"
    extra = profile(99, "TxDefaultProfile", [(0, 10)], stack_level=0, start=past)
    extra["chargingSchedule"]["duration"] = 10
    assert await rig.set_profile(1, dict(extra, stackLevel=0, chargingProfileId=99)) == (
        "Accepted"  # same purpose + stack level + connector: a replacement, not a 17th
    )
    other = profile(100, "ChargePointMaxProfile", [(0, 10)], start=past)
    assert await rig.set_profile(0, other) == "Rejected"  # MaxChargingProfilesInstalled = 16
    assert rig.engine.state == "accepted"


async def test_limit_zero_pauses_and_a_positive_limit_resumes(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    rig = await rig_for(hass, csms)
    await rig.start_session()
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
    now = datetime.now(UTC) - timedelta(minutes=1)
    await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 0)], stack_level=8, start=now))
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")
    await hass.async_block_till_done()
    assert rig.switch_off[-1].data == {"entity_id": SWITCH}
    assert rig.engine.connectors[1].transaction is not None  # paused, not stopped
    assert await rig.offered() == (0.0, 0.0)
    after = len(csms.received)
    await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 11)], stack_level=8, start=now))
    await hass.async_block_till_done()
    assert rig.switch_on[-1].data == {"entity_id": SWITCH}
    assert await rig.written() == 11.0
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=after)
    assert csms.actions("StopTransaction") == []


async def test_a_limit_below_the_hardware_minimum_pauses(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    rig = await rig_for(hass, csms)  # the number's min is 6 A
    past = datetime(2026, 1, 1, tzinfo=UTC)
    await rig.start_session()
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
    await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 4)], start=past))
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")
    await hass.async_block_till_done()
    assert rig.switch_off[-1].data == {"entity_id": SWITCH}
    assert all(c.data["value"] != 6.0 for c in rig.set_value)  # never rounded up to 6 A
    assert await rig.offered() == (0.0, 0.0)
    assert rig.sensor("limit_in_force") == "4.0"
    await rig.set_profile(1, profile(1, "TxDefaultProfile", [(0, 6)], start=past))
    await hass.async_block_till_done()
    assert await rig.written() == 6.0
    assert rig.switch_on[-1].data == {"entity_id": SWITCH}


async def test_drift_of_the_number_entity_is_written_back(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    rig = await rig_for(hass, csms)
    await rig.set_profile(
        1, profile(1, "TxDefaultProfile", [(0, 10)], start=datetime(2026, 1, 1, tzinfo=UTC))
    )
    await rig.start_session()
    assert await rig.written() == 10.0
    writes = len(rig.set_value)
    hass.states.async_set(NUMBER, "10", {"min": 6, "max": 32})  # what we wrote: no drift
    await hass.async_block_till_done()
    assert len(rig.set_value) == writes
    hass.states.async_set(NUMBER, "25", {"min": 6, "max": 32})  # someone changed it
    async with asyncio.timeout(15):
        while len(rig.set_value) == writes:  # the engine writes from its own task
            await asyncio.sleep(0.01)
    assert len(rig.set_value) == writes + 1
    assert await rig.written() == 10.0


async def test_profiles_survive_a_restart(hass: HomeAssistant, csms: TestCsms) -> None:
    rig = await rig_for(hass, csms)
    past = datetime(2026, 1, 1, tzinfo=UTC)
    await rig.set_profile(1, profile(3, "TxDefaultProfile", [(0, 9)], start=past))
    await hass.services.async_call(
        DOMAIN,
        "set_limit",
        {"config_entry_id": rig.entry.entry_id, "current": 12},
        blocking=True,
    )
    assert await hass.config_entries.async_reload(rig.entry.entry_id)
    await hass.async_block_till_done()
    engine: ChargePointEngine = rig.entry.runtime_data.engine
    assert [p.profile_id for p in engine.profiles.profiles] == [3]
    assert engine.limit_in_force(1).amps == 9.0
    assert [p.amps for p in engine.profiles.local(1)] == [12.0]


async def test_local_schedule_services(hass: HomeAssistant, csms: TestCsms) -> None:
    rig = await rig_for(hass, csms)
    entry_id = rig.entry.entry_id
    t0 = whole_second()
    rig.jump_to(t0)
    await rig.set_profile(
        1, profile(1, "TxDefaultProfile", [(0, 20)], start=datetime(2026, 1, 1, tzinfo=UTC))
    )
    await rig.start_session()
    assert await rig.written() == 20.0
    # what an EMHASS automation sends: power per slot, here 2 s slots
    schedule = [
        {"start": stamp(t0 - timedelta(seconds=10)), "power": 2300},
        {"start": stamp(t0 + timedelta(seconds=2)), "power": 0},
        {"start": stamp(t0 + timedelta(seconds=4)), "current": 13},
    ]
    await hass.services.async_call(
        DOMAIN,
        "set_schedule",
        {"config_entry_id": entry_id, "schedule": schedule},
        blocking=True,
    )
    assert await rig.written() == 10.0  # 2300 W / 230 V, below the CSMS's 20 A
    assert rig.sensor("limit_source") == "local"
    answer = await hass.services.async_call(
        DOMAIN,
        "get_composite_schedule",
        {"config_entry_id": entry_id, "duration": 6},
        blocking=True,
        return_response=True,
    )
    assert answer is not None
    assert [(p["current"], p["source"]) for p in answer["periods"]] == [
        (10.0, "local"),
        (0.0, "local"),
        (13.0, "local"),
    ]
    assert [(p["startPeriod"], p["limit"]) for p in answer["ocpp"]["chargingSchedulePeriod"]] == [
        (0, 10.0),
        (2, 0.0),
        (4, 13.0),
    ]
    await wait_until(rig, t0 + timedelta(seconds=2))
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")
    assert (await rig.offered())[0] == 0.0
    await wait_until(rig, t0 + timedelta(seconds=4))
    assert await rig.written() == 13.0
    await hass.services.async_call(
        DOMAIN, "clear_limit", {"config_entry_id": entry_id}, blocking=True
    )
    assert await rig.written() == 20.0

    for bad, key in (
        ([], "schedule_length"),
        ([{"start": "not a time", "current": 6}], "schedule_period_invalid"),
        ([{"start": stamp(t0), "current": -1}], "schedule_period_invalid"),
        (
            [{"start": stamp(t0), "current": 6}, {"start": stamp(t0), "current": 8}],
            "schedule_not_increasing",
        ),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN,
                "set_schedule",
                {"config_entry_id": entry_id, "schedule": bad},
                blocking=True,
            )
        assert err.value.translation_key == key
    assert rig.engine.profiles.local(1) == ()  # a refused schedule changes nothing
    assert hass.states.get(ENERGY) is not None
