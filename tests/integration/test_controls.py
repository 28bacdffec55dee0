"""Dashboard controls through the whole stack, against a real CSMS on 127.0.0.1: the local
current limit number and the availability switches drive the engine, the mapped charger
entities and what the CSMS sees."""

from __future__ import annotations

import asyncio
import math
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.ocpp_cp.const import DOMAIN
from custom_components.ocpp_cp.engine import ChargePointEngine
from tests.csms import TestCsms

from .test_bridge import NUMBER, PLUG, POWER, SWITCH, entry_for, set_up

LIMIT = "number.cp1_local_current_limit"
AVAILABLE = "switch.cp1_available"
CHARGE_POINT_AVAILABLE = "switch.cp1_charge_point_available"
ENTRY_ID = "01JCONTROLSSNAPSHOT00000000"


def mock_charger_service(hass: HomeAssistant, domain: str, service: str) -> list[ServiceCall]:
    """async_mock_service for the mapped charger entities (states only, no entity behind
    them): their calls are recorded. Calls that name this integration's own entities go on
    to the real entity service, as from a dashboard (range checks included)."""
    real = hass.services.async_services_internal()[domain][service]
    registry = er.async_get(hass)
    calls: list[ServiceCall] = []

    async def handle(service_call: ServiceCall) -> Any:
        target = service_call.data.get(ATTR_ENTITY_ID)
        targets = [target] if isinstance(target, str) else list(target or [])
        if not any(
            (entry := registry.async_get(entity_id)) is not None and entry.platform == DOMAIN
            for entity_id in targets
        ):
            calls.append(service_call)
            return None
        assert real.schema is not None
        checked = ServiceCall(
            hass, domain, service, real.schema(dict(service_call.data)), service_call.context
        )
        return await real.job.target(checked)

    hass.services.async_register(domain, service, handle)
    return calls


def mock_charger(hass: HomeAssistant) -> tuple[list[ServiceCall], list[ServiceCall]]:
    """The charger's switch and limit number; returns (switch.turn_on, number.set_value)."""
    switch_on = mock_charger_service(hass, "switch", "turn_on")
    mock_charger_service(hass, "switch", "turn_off")
    return switch_on, mock_charger_service(hass, "number", "set_value")


async def set_number(hass: HomeAssistant, entity_id: str, value: float) -> None:
    await hass.services.async_call(
        "number", "set_value", {ATTR_ENTITY_ID: entity_id, "value": value}, blocking=True
    )
    await hass.async_block_till_done()


async def switch(hass: HomeAssistant, entity_id: str, on: bool) -> None:
    await hass.services.async_call(
        "switch", "turn_on" if on else "turn_off", {ATTR_ENTITY_ID: entity_id}, blocking=True
    )
    await hass.async_block_till_done()


def state(hass: HomeAssistant, entity_id: str) -> Any:
    current = hass.states.get(entity_id)
    assert current is not None, f"{entity_id} not in {sorted(hass.states.async_entity_ids())}"
    return current


async def current_offered(csms: TestCsms, connector_id: int = 1) -> float:
    """Current.Offered as the CSMS receives it right now."""
    after = len(csms.received)
    result = await csms.call(
        call.TriggerMessage(requested_message="MeterValues", connector_id=connector_id)
    )
    assert result.status == "Accepted"
    values = await csms.wait_for("MeterValues", after=after)
    sampled = {v["measurand"]: v["value"] for v in values["meter_value"][0]["sampled_value"]}
    return float(sampled["Current.Offered"])


async def start_session(hass: HomeAssistant, csms: TestCsms, entry: MockConfigEntry) -> None:
    hass.states.async_set(PLUG, "on")
    after = len(csms.received)
    await hass.services.async_call(
        DOMAIN, "start_transaction", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await csms.wait_for("StartTransaction", after=after)
    hass.states.async_set(POWER, "3.0", {"unit_of_measurement": "kW"})
    engine: ChargePointEngine = entry.runtime_data.engine
    async with asyncio.timeout(15):  # a RemoteStop names the id, known once it is durable
        while (tx := engine.connectors[1].transaction) is None or tx.transaction_id is None:
            await asyncio.sleep(0.01)
    await hass.async_block_till_done()


async def stop_session(hass: HomeAssistant, csms: TestCsms, transaction_id: int) -> None:
    after = len(csms.received)
    result = await csms.call(call.RemoteStopTransaction(transaction_id=transaction_id))
    assert result.status == "Accepted"
    await csms.wait_for("StopTransaction", after=after)
    hass.states.async_set(POWER, "0", {"unit_of_measurement": "kW"})
    await hass.async_block_till_done()


# -- the local current limit -----------------------------------------------------------------


async def test_the_number_sets_the_local_limit(hass: HomeAssistant, csms: TestCsms) -> None:
    _, set_value = mock_charger(hass)
    entry = await set_up(hass, csms)
    engine: ChargePointEngine = entry.runtime_data.engine
    await csms.call(call.ChangeConfiguration(key="MeterValuesSampledData", value="Current.Offered"))

    limit = state(hass, LIMIT)
    assert limit.state == "32.0"  # no local limit: the hardware maximum (the charger's number)
    assert {k: limit.attributes[k] for k in ("min", "max", "step", "mode")} == {
        "min": 0,
        "max": 32.0,
        "step": 1,
        "mode": "slider",
    }
    assert limit.attributes["unit_of_measurement"] == "A"
    assert limit.attributes["device_class"] == "current"
    assert engine.local_limit_amps(1) is None

    await start_session(hass, csms, entry)
    assert set_value[-1].data == {"entity_id": NUMBER, "value": 32.0}

    await set_number(hass, LIMIT, 10)
    assert engine.local_limit_amps(1) == 10
    assert engine.limit_in_force(1).amps == 10
    assert set_value[-1].data == {"entity_id": NUMBER, "value": 10.0}
    assert await current_offered(csms) == 10.0
    assert state(hass, LIMIT).state == "10.0"
    assert state(hass, "sensor.cp1_limit_source").state == "local"

    after = len(csms.received)
    await set_number(hass, LIMIT, 0)  # pauses, the session stays open
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE", after=after)
    assert engine.connectors[1].transaction is not None
    assert await current_offered(csms) == 0.0
    assert state(hass, LIMIT).state == "0.0"

    after = len(csms.received)
    await set_number(hass, LIMIT, 32)  # the maximum clears the local limit
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=after)
    assert engine.local_limit_amps(1) is None
    assert state(hass, "sensor.cp1_limit_source").state == "hardware"
    assert set_value[-1].data == {"entity_id": NUMBER, "value": 32.0}
    assert await current_offered(csms) == 32.0

    # The set_limit service sets the same limit: the number follows it.
    await hass.services.async_call(
        DOMAIN, "set_limit", {"config_entry_id": entry.entry_id, "current": 12}, blocking=True
    )
    await hass.async_block_till_done()
    assert state(hass, LIMIT).state == "12.0"

    # Out of range: Home Assistant's own check; NaN passes that one, so ours.
    with pytest.raises(ServiceValidationError) as err:
        await set_number(hass, LIMIT, 40)
    assert (err.value.translation_domain, err.value.translation_key) == ("number", "out_of_range")
    with pytest.raises(ServiceValidationError) as err:
        await set_number(hass, LIMIT, math.nan)
    assert (err.value.translation_domain, err.value.translation_key) == (DOMAIN, "invalid_current")
    assert engine.local_limit_amps(1) == 12

    # The charger's maximum goes down: so does the number's range; a local limit above it
    # reads as the maximum.
    hass.states.async_set(NUMBER, "12", {"min": 6, "max": 10, "unit_of_measurement": "A"})
    await hass.async_block_till_done()
    limit = state(hass, LIMIT)
    assert (limit.state, limit.attributes["max"]) == ("10.0", 10.0)

    assert await hass.config_entries.async_unload(entry.entry_id)


# -- availability ----------------------------------------------------------------------------


async def test_the_switch_sets_the_connector_availability(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    mock_charger(hass)
    entry = await set_up(hass, csms)
    engine: ChargePointEngine = entry.runtime_data.engine
    available = state(hass, AVAILABLE)
    assert (available.state, available.attributes["scheduled"]) == ("on", False)
    # One connector: its switch does the job; the charge point's is there, disabled.
    registry = er.async_get(hass)
    charge_point = registry.async_get(CHARGE_POINT_AVAILABLE)
    assert charge_point is not None
    assert charge_point.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(CHARGE_POINT_AVAILABLE) is None

    after = len(csms.received)
    await switch(hass, AVAILABLE, False)
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 1 and p["status"] == "Unavailable",
        after=after,
    )
    assert engine.connectors[1].operative is False
    assert state(hass, AVAILABLE).state == "off"
    hass.states.async_set(PLUG, "on")  # Inoperative: no session starts
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "start_transaction", {"config_entry_id": entry.entry_id}, blocking=True
        )
    assert err.value.translation_key == "connector_busy"
    hass.states.async_set(PLUG, "off")

    after = len(csms.received)
    await switch(hass, AVAILABLE, True)
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 1 and p["status"] == "Available",
        after=after,
    )
    assert engine.connectors[1].operative is True
    assert state(hass, AVAILABLE).state == "on"

    # During a session the change is Scheduled: it waits for the session to end.
    await start_session(hass, csms, entry)
    after = len(csms.received)
    await switch(hass, AVAILABLE, False)
    available = state(hass, AVAILABLE)
    assert (available.state, available.attributes["scheduled"]) == ("on", True)
    assert engine.connectors[1].operative is True
    await switch(hass, AVAILABLE, True)  # switching back cancels it
    assert state(hass, AVAILABLE).attributes["scheduled"] is False
    assert engine.connectors[1].scheduled_operative is None
    await switch(hass, AVAILABLE, False)
    assert state(hass, AVAILABLE).attributes["scheduled"] is True

    tx = engine.connectors[1].transaction
    assert tx is not None and tx.transaction_id is not None
    await stop_session(hass, csms, tx.transaction_id)
    unavailable = await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 1 and p["status"] == "Unavailable",
        after=after,
    )
    statuses = [
        r.payload["status"] for r in csms.received[after:] if r.action == "StatusNotification"
    ]
    assert statuses[-1] == unavailable["status"]
    assert "Unavailable" not in statuses[:-1]  # not before the stop
    assert engine.connectors[1].operative is False
    available = state(hass, AVAILABLE)
    assert (available.state, available.attributes["scheduled"]) == ("off", False)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_change_that_cannot_be_stored_is_an_error(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    mock_charger(hass)
    entry = await set_up(hass, csms)
    engine: ChargePointEngine = entry.runtime_data.engine
    with (
        patch.object(engine, "set_availability", AsyncMock(return_value="Rejected")),
        pytest.raises(HomeAssistantError) as err,
    ):
        await switch(hass, AVAILABLE, False)
    assert (err.value.translation_domain, err.value.translation_key) == (
        DOMAIN,
        "availability_not_stored",
    )
    assert state(hass, AVAILABLE).state == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def set_up_two_connectors(hass: HomeAssistant, csms: TestCsms) -> MockConfigEntry:
    hass.states.async_set("binary_sensor.plug_2", "off")
    hass.states.async_set("switch.enable_2", "off")
    template = entry_for(csms, data={"number_of_connectors": 2})
    options = dict(template.options)
    options["mapping"] = {
        **options["mapping"],
        "2": {"charge_switch": "switch.enable_2", "plug_sensor": "binary_sensor.plug_2"},
    }
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    hass.states.async_set(NUMBER, "16", {"min": 6, "max": 32, "unit_of_measurement": "A"})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="CP1",
        unique_id=template.unique_id,
        data=template.data,
        options=options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 2)
    return entry


async def test_the_charge_point_switch_changes_every_connector(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    mock_charger(hass)
    entry = await set_up_two_connectors(hass, csms)
    engine: ChargePointEngine = entry.runtime_data.engine
    assert state(hass, CHARGE_POINT_AVAILABLE).state == "on"  # several connectors: enabled
    assert state(hass, "switch.cp1_connector_2_available").state == "on"
    # nothing mapped on connector 2: the configured default maximum
    assert state(hass, "number.cp1_connector_2_local_current_limit").state == "16.0"

    await start_session(hass, csms, entry)  # on connector 1
    after = len(csms.received)
    await switch(hass, CHARGE_POINT_AVAILABLE, False)
    for connector_id in (0, 2):
        await csms.wait_for(
            "StatusNotification",
            lambda p, c=connector_id: p["connector_id"] == c and p["status"] == "Unavailable",
            after=after,
        )
    charge_point = state(hass, CHARGE_POINT_AVAILABLE)
    assert (charge_point.state, charge_point.attributes["scheduled"]) == ("off", True)
    connector_1 = state(hass, "switch.cp1_connector_1_available")
    assert (connector_1.state, connector_1.attributes["scheduled"]) == ("on", True)
    assert state(hass, "switch.cp1_connector_2_available").state == "off"

    tx = engine.connectors[1].transaction
    assert tx is not None and tx.transaction_id is not None
    await stop_session(hass, csms, tx.transaction_id)
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 1 and p["status"] == "Unavailable",
        after=after,
    )
    assert [c.operative for c in engine.connectors.values()] == [False, False, False]
    charge_point = state(hass, CHARGE_POINT_AVAILABLE)
    assert (charge_point.state, charge_point.attributes["scheduled"]) == ("off", False)

    after = len(csms.received)
    await switch(hass, CHARGE_POINT_AVAILABLE, True)
    for connector_id in (0, 1, 2):
        await csms.wait_for(
            "StatusNotification",
            lambda p, c=connector_id: p["connector_id"] == c and p["status"] != "Unavailable",
            after=after,
        )
    assert [c.operative for c in engine.connectors.values()] == [True, True, True]
    assert await hass.config_entries.async_unload(entry.entry_id)


# -- snapshots -------------------------------------------------------------------------------


@pytest.mark.parametrize("connectors", [1, 2])
@pytest.mark.parametrize(
    "platform", [Platform.BUTTON, Platform.NUMBER, Platform.SENSOR, Platform.SWITCH]
)
async def test_entities_snapshot(
    hass: HomeAssistant,
    csms: TestCsms,
    snapshot: SnapshotAssertion,
    platform: Platform,
    connectors: int,
) -> None:
    """The registry entries (disabled ones too) and the states of one platform's entities."""
    mock_charger(hass)
    template = entry_for(csms, data={"number_of_connectors": connectors})
    options = dict(template.options)
    if connectors == 2:
        hass.states.async_set("binary_sensor.plug_2", "off")
        hass.states.async_set("switch.enable_2", "off")
        options["mapping"] = {
            **options["mapping"],
            "2": {"charge_switch": "switch.enable_2", "plug_sensor": "binary_sensor.plug_2"},
        }
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    hass.states.async_set(NUMBER, "16", {"min": 6, "max": 32, "unit_of_measurement": "A"})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="CP1",
        unique_id=template.unique_id,
        data=template.data,
        options=options,
        entry_id=ENTRY_ID,
    )
    entry.add_to_hass(hass)
    with patch("custom_components.ocpp_cp.PLATFORMS", [platform]):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == connectors)
        await hass.async_block_till_done()
        entries = sorted(
            er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id),
            key=lambda e: e.entity_id,
        )
        assert entries
        assert {e.domain for e in entries} == {platform.value}
        for registry_entry in entries:
            assert registry_entry == snapshot(name=f"{registry_entry.entity_id}-entry")
            assert hass.states.get(registry_entry.entity_id) == snapshot(
                name=f"{registry_entry.entity_id}-state"
            )
        assert await hass.config_entries.async_unload(entry.entry_id)
