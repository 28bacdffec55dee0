"""The site fuse guard in a real HA test instance, against a real CSMS on 127.0.0.1.

Simulated grid meters (``hass.states.async_set``) step the house load up and down; the guard
must write the charger's number entity and show Current.Offered at the CSMS within the
reaction time, pause below the minimum, fall back on a stale or unavailable sensor, share the
headroom between two connectors and report a fuse overload as an event and a repair issue.
The house is three-phase (25 A main fuse, 1 A margin), the charger single-phase (counted on L1).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Event, HomeAssistant, ServiceCall, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.ocpp_cp import _async_options_updated
from custom_components.ocpp_cp.const import DOMAIN, EVENT_SITE_FUSE_EXCEEDED
from tests.csms import TestCsms
from tests.integration.test_bridge import CURRENT, NUMBER, PLUG, POWER, SWITCH, entry_for, set_up
from tests.integration.test_smart_charging import Rig

GRID = ("sensor.grid_l1", "sensor.grid_l2", "sensor.grid_l3")
GRID_POWER = "sensor.grid_power"
AMPS = {"unit_of_measurement": "A", "device_class": "current"}


def guard_options(**overrides: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "grid_current_l1": GRID[0],
        "grid_current_l2": GRID[1],
        "grid_current_l3": GRID[2],
        "grid_voltage": 230.0,
        "fuse_current": 25.0,
        "safety_margin": 1.0,
        "reaction_time": 2.0,
        "increase_interval": 1.0,
        "fallback_current": 6.0,
        "stale_timeout": 30.0,
        **overrides,
    }


def grid(hass: HomeAssistant, l1: float, l2: float, l3: float) -> float:
    """One reading of the grid meter (all three phases); returns the loop time it was set."""
    at = hass.loop.time()
    for entity_id, amps in zip(GRID, (l1, l2, l3), strict=True):
        hass.states.async_set(entity_id, str(amps), AMPS)
    return at


class TimedRig(Rig):
    """The smart charging rig, with the loop time of every write to the number entity."""

    written_at: list[tuple[float, float]]

    async def wait_written(self, value: float, timeout: float = 15.0) -> float:
        """Wait until ``value`` is the last value written; the loop time it was written."""
        async with asyncio.timeout(timeout):
            while not (self.written_at and self.written_at[-1][1] == value):
                await asyncio.sleep(0.02)
        return self.written_at[-1][0]


async def guarded_rig(
    hass: HomeAssistant, csms: TestCsms, guard: dict[str, Any], *, connectors: int = 1
) -> TimedRig:
    set_value: list[ServiceCall] = []
    written_at: list[tuple[float, float]] = []

    async def record(service_call: ServiceCall) -> None:
        set_value.append(service_call)
        written_at.append((hass.loop.time(), float(service_call.data["value"])))

    hass.services.async_register("number", "set_value", record)
    switch_on = async_mock_service(hass, "switch", "turn_on")
    switch_off = async_mock_service(hass, "switch", "turn_off")
    grid(hass, 5, 5, 5)
    if connectors == 1:
        entry = await set_up(hass, csms, guard=guard)
    else:
        entry = await set_up_two(hass, csms, guard)
    rig = TimedRig(hass, csms, entry, set_value, switch_on, switch_off)
    rig.written_at = written_at
    for key, value in (
        ("MeterValuesSampledData", "Current.Offered,Power.Offered"),
        ("MeterValueSampleInterval", "1"),
    ):
        await csms.call(call.ChangeConfiguration(key=key, value=value))
    return rig


@pytest.fixture(autouse=True)
def _guard_in_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """set_up(..., guard=...) puts the guard into the entry's options (entry_for maps only)."""
    import tests.integration.test_bridge as bridge_tests

    original = bridge_tests.entry_for

    def with_guard(
        csms: TestCsms, data: dict[str, Any] | None = None, **mapping: Any
    ) -> MockConfigEntry:
        guard = mapping.pop("guard", None)
        entry = original(csms, data, **mapping)
        if guard is not None:
            entry = MockConfigEntry(
                domain=DOMAIN,
                title=entry.title,
                unique_id=entry.unique_id,
                data=dict(entry.data),
                options={**entry.options, "site_guard": guard},
            )
        return entry

    monkeypatch.setattr(bridge_tests, "entry_for", with_guard)


async def set_up_two(hass: HomeAssistant, csms: TestCsms, guard: dict[str, Any]) -> Any:
    """Two connectors, each with its own charger entities."""
    base = entry_for(csms)
    first = dict(base.options["mapping"]["1"])
    second = {
        **first,
        "charge_switch": "switch.charger2_enable",
        "current_number": "number.charger2_current",
        "plug_sensor": "binary_sensor.car2_plugged",
        "power": "sensor.charger2_power",
        "current": "sensor.charger2_current",
    }
    for entity_id, state, attributes in (
        (PLUG, "off", {}),
        ("binary_sensor.car2_plugged", "off", {}),
        (SWITCH, "off", {}),
        ("switch.charger2_enable", "off", {}),
        (NUMBER, "16", {"min": 6, "max": 32}),
        ("number.charger2_current", "16", {"min": 6, "max": 32}),
        (POWER, "0", {"unit_of_measurement": "kW"}),
        ("sensor.charger2_power", "0", {"unit_of_measurement": "kW"}),
        (CURRENT, "0", AMPS),
        ("sensor.charger2_current", "0", AMPS),
    ):
        hass.states.async_set(entity_id, state, attributes)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="CP1",
        unique_id=base.unique_id,
        data={**base.data, "number_of_connectors": 2},
        options={
            "mapping": {"1": first, "2": second},
            "default_id_tag": "HOMEUSER",
            "site_guard": guard,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 2)
    return entry


async def offered_at_csms(csms: TestCsms, amps: float, after: int, timeout: float = 15.0) -> float:
    """The loop time the first sampled MeterValues with Current.Offered == amps arrived."""

    def shows(payload: dict[str, Any]) -> bool:
        return any(
            v.get("measurand") == "Current.Offered" and float(v["value"]) == amps
            for v in payload["meter_value"][0]["sampled_value"]
        )

    await csms.wait_for("MeterValues", shows, after=after, timeout=timeout)
    return next(
        r.at for r in csms.received[after:] if r.action == "MeterValues" and shows(r.payload)
    )


async def test_house_load_steps_up_and_down(hass: HomeAssistant, csms: TestCsms) -> None:
    rig = await guarded_rig(hass, csms, guard_options())
    assert rig.engine.limit_in_force(1).amps == 6.0  # the fallback until a fresh reading
    assert rig.sensor("limit_source") == "site_guard"
    await rig.start_session()
    assert await rig.written() == 6.0
    # fresh readings: 25 - 1 - 5 = 19 A, raised after the 1 s increase interval
    started = hass.loop.time()
    grid(hass, 5, 5, 5)
    await rig.wait_written(19.0)
    assert rig.written_at[-1][0] - started >= 1.0
    assert hass.states.get("sensor.cp1_site_headroom").state == "19.0"  # type: ignore[union-attr]
    # the charger draws 19 A on L1, then the house's L1 load rises by 8 A: 32 A on L1
    hass.states.async_set(CURRENT, "19", AMPS)
    grid(hass, 24, 5, 5)
    await hass.async_block_till_done()
    after = len(csms.received)
    stepped = grid(hass, 32, 5, 5)
    written = await rig.wait_written(11.0)  # 24 - (32 - 19)
    assert written - stepped < 2.0  # within the reaction time
    assert await offered_at_csms(csms, 11.0, after) - stepped < 2.0
    assert rig.sensor("limit_in_force") == "11.0"
    assert rig.sensor("limit_source") == "site_guard"
    answer = await csms.call(call.GetCompositeSchedule(connector_id=1, duration=60))
    assert answer.charging_schedule["charging_schedule_period"] == [
        {"start_period": 0, "limit": 11.0, "number_phases": 1}
    ]
    schedule = await hass.services.async_call(
        DOMAIN,
        "get_composite_schedule",
        {"config_entry_id": rig.entry.entry_id, "duration": 60},
        blocking=True,
        return_response=True,
    )
    assert schedule is not None
    assert [(p["current"], p["source"]) for p in schedule["periods"]] == [(11.0, "site_guard")]
    # the load falls again: up only after an interval, and never on a short dip
    hass.states.async_set(CURRENT, "11", AMPS)
    dropped = grid(hass, 16, 5, 5)  # house 5 A: 19 A free
    await asyncio.sleep(0.3)
    assert rig.written_at[-1][1] == 11.0
    raised = await rig.wait_written(19.0)
    assert raised - dropped >= 0.9
    # a CSMS profile below the guard decides again
    await rig.set_profile(
        1,
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            },
        },
    )
    await rig.wait_written(10.0)
    assert rig.sensor("limit_source") == "tx_default_profile"


async def test_pause_below_the_minimum_and_resume(hass: HomeAssistant, csms: TestCsms) -> None:
    rig = await guarded_rig(hass, csms, guard_options())
    await rig.start_session()
    grid(hass, 5, 5, 5)
    await rig.wait_written(19.0)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
    after, offs, ons = len(csms.received), len(rig.switch_off), len(rig.switch_on)
    grid(hass, 5, 20, 5)  # L2: 24 - 20 = 4 A, below the 6 A minimum
    await csms.wait_for(
        "StatusNotification", lambda p: p["status"] == "SuspendedEVSE", after=after, timeout=10
    )
    await hass.async_block_till_done()
    assert [c.data["entity_id"] for c in rig.switch_off[offs:]] == [SWITCH]
    assert rig.engine.connectors[1].transaction is not None  # paused, not stopped
    assert rig.sensor("limit_in_force") == "0.0"
    after = len(csms.received)
    grid(hass, 5, 12, 5)  # 12 A free again
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=after)
    assert await rig.wait_written(12.0)
    assert len(rig.switch_on) == ons + 1


async def test_fallback_on_unavailable_and_stale_sensors(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    rig = await guarded_rig(hass, csms, guard_options(stale_timeout=2.0, fallback_current=8.0))
    await rig.start_session()
    assert await rig.written() == 8.0
    grid(hass, 5, 5, 5)
    await rig.wait_written(19.0)
    hass.states.async_set(GRID[2], "unavailable", AMPS)
    await rig.wait_written(8.0, timeout=0.5)  # at once
    assert hass.states.get("sensor.cp1_site_headroom").state == "unknown"  # type: ignore[union-attr]
    grid(hass, 5, 5, 5)
    await rig.wait_written(19.0)
    # the same values again keep it fresh (state reported, not changed) ...
    for _ in range(3):
        await asyncio.sleep(0.8)
        grid(hass, 5, 5, 5)
        await hass.async_block_till_done()
        assert rig.written_at[-1][1] == 19.0
    # ... silence does not: 2 s after the last report the fallback applies
    silent = hass.loop.time()
    stale = await rig.wait_written(8.0, timeout=4)
    assert 1.9 <= stale - silent <= 3.0


async def test_after_a_restart_the_fallback_holds_until_a_fresh_reading(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    """The guard's limit is not stored: a restored session resumes at the fallback current,
    whatever the grid sensors said before the restart."""
    rig = await guarded_rig(hass, csms, guard_options(fallback_current=7.0))
    await rig.start_session()
    grid(hass, 5, 5, 5)
    await rig.wait_written(19.0)
    transaction = rig.engine.connectors[1].transaction
    assert transaction is not None
    before, received = len(rig.written_at), len(csms.received)
    assert await hass.config_entries.async_reload(rig.entry.entry_id)
    await hass.async_block_till_done()
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=received)
    resumed = rig.engine.connectors[1].transaction
    assert resumed is not None and resumed.transaction_id == transaction.transaction_id
    assert csms.actions("StopTransaction") == []
    assert rig.engine.limit_in_force(1).amps == 7.0
    assert rig.sensor("limit_source") == "site_guard"
    after_restart = [value for _, value in rig.written_at[before:]]
    assert after_restart and set(after_restart) == {7.0}  # never the 19 A from before
    fresh = grid(hass, 5, 5, 4)  # a fresh reading: 19 A free (L1, L2)
    raised = await rig.wait_written(19.0)
    assert raised - fresh >= 0.9  # up only after an increase interval


async def test_two_connectors_share_the_headroom(hass: HomeAssistant, csms: TestCsms) -> None:
    rig = await guarded_rig(hass, csms, guard_options(), connectors=2)
    writes: dict[str, list[float]] = {NUMBER: [], "number.charger2_current": []}

    @callback  # in order, on the loop: a plain function would run in the executor
    def record_write(event: Event[dict[str, Any]]) -> None:
        if event.data["domain"] == "number":
            data = event.data["service_data"]
            writes[data["entity_id"]].append(data["value"])

    hass.bus.async_listen("call_service", record_write)
    grid(hass, 3, 3, 3)
    await asyncio.sleep(1.2)
    grid(hass, 3, 3, 3)  # 21 A free
    await hass.async_block_till_done()
    for connector_id, plug in ((1, PLUG), (2, "binary_sensor.car2_plugged")):
        hass.states.async_set(plug, "on")
        after = len(csms.received)
        await hass.services.async_call(
            DOMAIN,
            "start_transaction",
            {"config_entry_id": rig.entry.entry_id, "connector": connector_id},
            blocking=True,
        )
        await csms.wait_for("StartTransaction", after=after)
        await hass.async_block_till_done()
    assert rig.engine.limit_in_force(1).amps == 10.0  # 21 A shared: 10 A each
    assert rig.engine.limit_in_force(2).amps == 10.0
    assert writes[NUMBER][-1] == 10.0
    assert writes["number.charger2_current"][-1] == 10.0
    # the house takes more: 11 A left fit one 6 A minimum only; connector 2 pauses
    grid(hass, 3, 13, 3)
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 2 and p["status"] == "SuspendedEVSE",
        timeout=10,
    )
    assert rig.engine.limit_in_force(1).amps == 11.0
    assert writes[NUMBER][-1] == 11.0
    # connector 1's session ends: connector 2 gets it all
    after = len(csms.received)
    await hass.services.async_call(
        DOMAIN,
        "stop_transaction",
        {"config_entry_id": rig.entry.entry_id, "connector": 1},
        blocking=True,
    )
    await csms.wait_for("StopTransaction", after=after)
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 2 and p["status"] != "SuspendedEVSE",
        after=after,
    )
    assert rig.engine.limit_in_force(2).amps == 11.0


async def test_fuse_exceeded_fires_an_event_and_a_repair_issue(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    rig = await guarded_rig(hass, csms, guard_options(reaction_time=0.5))
    events = async_capture_events(hass, EVENT_SITE_FUSE_EXCEEDED)
    await rig.start_session()
    grid(hass, 27, 5, 5)  # the house alone is above the 25 A fuse
    await asyncio.sleep(0.3)
    assert events == []  # within the reaction time
    async with asyncio.timeout(10):
        while not events:
            await asyncio.sleep(0.02)
    await hass.async_block_till_done()
    assert len(events) == 1
    event = events[0].data
    assert (event["phase"], event["peak_a"], event["fuse_a"]) == (1, 27.0, 25.0)
    assert 0.5 < event["seconds"] < 1.0
    assert event["limits"] == {"1": 0.0}
    assert event["charge_point_id"] == "CP1"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"site_fuse_exceeded_{rig.entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "site_fuse_exceeded"
    assert issue.translation_placeholders == {
        "charge_point_id": "CP1",
        "phase": "L1",
        "peak": "27.0",
        "fuse": "25",
        "seconds": f"{event['seconds']:.1f}",
    }
    assert issue.severity == ir.IssueSeverity.WARNING
    assert not issue.is_fixable
    ir.async_ignore_issue(hass, DOMAIN, issue.issue_id, True)  # the user dismisses it
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue.issue_id).dismissed_version  # type: ignore[union-attr]
    await asyncio.sleep(1)
    assert len(events) == 1  # one report per overload


async def test_one_grid_power_sensor(hass: HomeAssistant, csms: TestCsms) -> None:
    """A single-phase site metered by power: 4600 W of house load at 230 V is 20 A."""
    options = guard_options(fuse_current=40.0, grid_power=GRID_POWER)
    for key in ("grid_current_l1", "grid_current_l2", "grid_current_l3"):
        options.pop(key)
    rig = await guarded_rig(hass, csms, options)
    await rig.start_session()  # the charger draws 3 kW
    hass.states.async_set(GRID_POWER, "7.6", {"unit_of_measurement": "kW"})
    await rig.wait_written(19.0)  # 40 - 1 - (7600 - 3000) / 230 = 19
    hass.states.async_set(GRID_POWER, "garbage", {"unit_of_measurement": "kW"})
    await rig.wait_written(6.0, timeout=10)  # at once: the stale timeout is 30 s


async def test_own_draw_from_the_power_without_a_current_sensor(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    """No charger current mapped: its 3 kW at the mapped 230 V on one phase are 13.04 A."""
    set_value: list[ServiceCall] = []
    hass.services.async_register("number", "set_value", set_value.append)
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms, guard=guard_options(), current=None)
    bridge = entry.runtime_data
    hass.states.async_set(PLUG, "on")
    await hass.services.async_call(
        DOMAIN, "start_transaction", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await csms.wait_for("StartTransaction")
    hass.states.async_set(POWER, "3.0", {"unit_of_measurement": "kW"})
    grid(hass, 5 + 3000 / 230, 5, 5)  # the house draws 5 A on every phase
    await hass.async_block_till_done()
    assert bridge.site_guard.own_draw() == ([pytest.approx(3000 / 230), 0.0, 0.0], 1)
    assert bridge.site_guard.last.available_a == pytest.approx(19.0)
    diagnostics = bridge.diagnostics()["site_guard"]
    assert diagnostics["mode"] == "normal"
    assert diagnostics["options"] == guard_options()
    assert diagnostics["limits"] == {"1": 6.0}  # up only after the increase interval


@pytest.mark.parametrize(
    "broken",
    [
        {"safety_margin": 30.0},
        {"fuse_current": None},
        {"grid_current_l1": None, "grid_current_l2": None, "grid_current_l3": None},
    ],
)
async def test_broken_guard_options_refuse_to_start(
    hass: HomeAssistant, csms: TestCsms, broken: dict[str, Any]
) -> None:
    """Options the flow would refuse (edited by hand): the entry does not start unguarded."""
    options = {k: v for k, v in {**guard_options(), **broken}.items() if v is not None}
    entry = entry_for(csms)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="CP1",
        unique_id=entry.unique_id,
        data=dict(entry.data),
        options={**entry.options, "site_guard": options},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "site fuse guard" in str(entry.reason)


# -- options flow -------------------------------------------------------------------------------


async def options_entry(hass: HomeAssistant, csms: TestCsms) -> MockConfigEntry:
    async_mock_service(hass, "number", "set_value")
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return entry


async def open_guard_step(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert "site_guard" in result["menu_options"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "site_guard"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "site_guard"
    return dict(result)


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"grid_current_l1": None, "grid_current_l2": None, "grid_current_l3": None},
         {"base": "guard_no_grid_sensor"}),
        ({"grid_power": GRID_POWER}, {"base": "guard_currents_or_power"}),
        ({"grid_current_l2": GRID[0]}, {"base": "guard_same_sensor"}),
        ({"safety_margin": 25.0}, {"safety_margin": "guard_margin_too_large"}),
        ({"fallback_current": 24.5}, {"fallback_current": "guard_fallback_above_fuse"}),
    ],
)  # fmt: skip
async def test_options_errors(
    hass: HomeAssistant, csms: TestCsms, changes: dict[str, Any], errors: dict[str, str]
) -> None:
    entry = await options_entry(hass, csms)
    result = await open_guard_step(hass, entry)
    user_input = {k: v for k, v in {**guard_options(), **changes}.items() if v is not None}
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert "site_guard" not in entry.options


async def test_options_switch_the_guard_on_change_it_and_off(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    entry = await options_entry(hass, csms)
    assert hass.states.get("sensor.cp1_site_headroom") is None
    result = await open_guard_step(hass, entry)
    schema = result["data_schema"].schema
    defaults = {str(key): key.description["suggested_value"] for key in schema if key.description}
    assert defaults["fuse_current"] == 25 and defaults["enabled"] is False
    result = await hass.config_entries.options.async_configure(result["flow_id"], guard_options())
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options["site_guard"] == guard_options()
    assert entry.options["mapping"]["1"]["charge_switch"] == SWITCH  # the rest is kept
    # switching it on reloads the entry: the headroom sensor appears, the fallback applies
    bridge = entry.runtime_data
    assert bridge.site_guard is not None
    assert hass.states.get("sensor.cp1_site_headroom") is not None
    assert bridge.engine.limit_in_force(1).amps == 6.0
    grid(hass, 5, 5, 5)
    await hass.async_block_till_done()
    # a new fuse rating applies live (same engine, the guard starts again from the fallback)
    engine = bridge.engine
    result = await open_guard_step(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], guard_options(fuse_current=20.0, fallback_current=7.0)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data.engine is engine
    assert bridge.site_guard.config.fuse_a == 20.0
    assert engine.limit_in_force(1).amps == 7.0
    # another options change leaves the running guard alone
    guard = bridge.site_guard
    bridge.apply_options()
    assert bridge.site_guard is guard
    # off: the entry reloads without the guard, its limit and its sensor
    result = await open_guard_step(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**guard_options(), "enabled": False, "grid_current_l2": GRID[0]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY  # nothing is checked while off
    await hass.async_block_till_done()
    assert entry.options["site_guard"]["enabled"] is False
    assert entry.runtime_data.site_guard is None
    assert entry.runtime_data.engine.limit_in_force(1).source.kind != "site_guard"
    assert hass.states.get("sensor.cp1_site_headroom") is None
