"""Charger presets: each supported integration's device, registered exactly as that integration
registers it (platform, unique id, translation key, device class, unit and enabled-by-default, all
read from its entity descriptions in the installed Home Assistant), picked in the flow, fills the
mapping README.md promises; and a session runs end to end through that mapping against a real
loopback CSMS (plug -> StartTransaction with the energy entity's register -> MeterValues from the
power entity -> StopTransaction)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.components.number import NumberEntityDescription
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import EntityDescription
from homeassistant.util.unit_conversion import EnergyConverter, PowerConverter
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.ocpp_cp.charger_presets import (
    PRESETS,
    UniqueIdForm,
    async_charger_devices,
    async_resolve_charger,
    unique_id_has_key,
)
from custom_components.ocpp_cp.const import DOMAIN
from tests.csms import TestCsms
from tests.integration.test_firmware_device import THREE_PHASE, add_firmware

pytestmark = pytest.mark.timeout(60)

# (entity domain, description, unique id) of one entity as its integration would add it
Registration = tuple[str, EntityDescription, str]


@dataclass
class Charger:
    """A charger device of one integration, its entities by (domain, key), and how its states
    read when no car is there, a car is plugged in, and the car draws current."""

    integration: str
    device: dr.DeviceEntry
    entity_ids: dict[tuple[str, str], str]
    units: dict[tuple[str, str], str | None]
    power: tuple[str, str]
    energy: tuple[str, str]
    unplugged: dict[tuple[str, str], str]
    plugged: dict[tuple[str, str], str]
    charging: dict[tuple[str, str], str]
    inverted: bool = False
    extra_states: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


def register(
    hass: HomeAssistant,
    integration: str,
    entry: MockConfigEntry,
    device: dr.DeviceEntry,
    registrations: Iterable[Registration],
    *,
    enable: frozenset[str] = frozenset(),
) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str | None]]:
    """Put the entities in the registry as the integration does; an entity its description
    leaves disabled by default stays disabled unless the user enabled it (``enable``)."""
    registry = er.async_get(hass)
    entity_ids: dict[tuple[str, str], str] = {}
    units: dict[tuple[str, str], str | None] = {}
    for domain, description, unique_id in registrations:
        enabled = description.entity_registry_enabled_default or description.key in enable
        native = getattr(description, "native_unit_of_measurement", None)
        entity = registry.async_get_or_create(
            domain,
            integration,
            unique_id,
            config_entry=entry,
            device_id=device.id,
            suggested_object_id=f"{integration}_{description.key}".lower(),
            translation_key=description.translation_key,
            original_device_class=description.device_class,
            unit_of_measurement=native,
            entity_category=description.entity_category,
            disabled_by=None if enabled else er.RegistryEntryDisabler.INTEGRATION,
        )
        entity_ids[(domain, description.key)] = entity.entity_id
        # the unit the state is shown in: the description's suggested unit, else its own
        units[(domain, description.key)] = (
            getattr(description, "suggested_unit_of_measurement", None) or native
        )
    return entity_ids, units


def add_device(
    hass: HomeAssistant, integration: str, identifier: str, name: str, **entry_kwargs: Any
) -> tuple[MockConfigEntry, dr.DeviceEntry]:
    entry = MockConfigEntry(domain=integration, title=name, **entry_kwargs)
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(integration, identifier)}, name=name
    )
    return entry, device


# -- the integrations, from their own entity descriptions ---------------------------------------


def peblar(hass: HomeAssistant, *, enable: frozenset[str] = frozenset()) -> Charger:
    """Peblar: unique id <entry unique id>_<key>; three-phase (has_fn with 3 connected phases)."""
    from homeassistant.components.peblar import binary_sensor, number, sensor, switch

    serial = "23-45-A4O-MOF"
    entry, device = add_device(hass, "peblar", serial, "Peblar EV Charger", unique_id=serial)
    three_phases = SimpleNamespace(connected_phases=3)
    # The number has no description tuple: its class attributes say what it is, and its key is
    # its translation key (number.py __init__). HA's entity metaclass keeps a class attribute's
    # default under "__attr_<name>".
    attributes = vars(number.PeblarChargeCurrentLimitNumberEntity)
    limit_description = NumberEntityDescription(
        key=attributes["__attr_translation_key"],
        translation_key=attributes["__attr_translation_key"],
        device_class=attributes["__attr_device_class"],
        entity_category=attributes["__attr_entity_category"],
        native_unit_of_measurement=attributes["__attr_native_unit_of_measurement"],
    )
    registrations: list[Registration] = [
        *(
            ("sensor", d, f"{serial}_{d.key}")
            for d in sensor.DESCRIPTIONS
            if d.has_fn(three_phases)
        ),
        *(("switch", d, f"{serial}_{d.key}") for d in switch.DESCRIPTIONS),
        *(("binary_sensor", d, f"{serial}_{d.key}") for d in binary_sensor.DESCRIPTIONS),
        ("number", limit_description, f"{serial}_{limit_description.key}"),
    ]
    entity_ids, units = register(hass, "peblar", entry, device, registrations, enable=enable)
    status = ("sensor", "cp_state")
    return Charger(
        "peblar",
        device,
        entity_ids,
        units,
        power=("sensor", "power_total"),
        energy=("sensor", "energy_total"),
        unplugged={status: "no_ev_connected"},
        plugged={status: "suspended"},
        charging={status: "charging"},
        extra_states={
            entity_ids[("number", "charge_current_limit")]: (
                "16",
                {"min": 6, "max": 32, "unit_of_measurement": "A"},
            )
        },
    )


def wallbox(hass: HomeAssistant) -> Charger:
    """Wallbox: unique id <key>-<serial number>."""
    from homeassistant.components.wallbox import number, sensor, switch

    serial = "20000"
    entry, device = add_device(hass, "wallbox", serial, "Wallbox Pulsar Plus")
    registrations: list[Registration] = [
        *(("sensor", d, f"{d.key}-{serial}") for d in sensor.SENSOR_TYPES.values()),
        *(("switch", d, f"{d.key}-{serial}") for d in switch.SWITCH_TYPES.values()),
        *(("number", d, f"{d.key}-{serial}") for d in number.NUMBER_TYPES.values()),
    ]
    entity_ids, units = register(hass, "wallbox", entry, device, registrations)
    status = ("sensor", "status_description")
    return Charger(
        "wallbox",
        device,
        entity_ids,
        units,
        power=("sensor", "charging_power"),
        energy=("sensor", "added_energy"),
        unplugged={status: "Ready"},
        plugged={status: "Paused"},
        charging={status: "Charging"},
        extra_states={
            entity_ids[("number", "max_charging_current")]: (
                "16",
                {"min": 6, "max": 32, "unit_of_measurement": "A"},
            )
        },
    )


def v2c(hass: HomeAssistant) -> Charger:
    """V2C Trydan: unique id <config entry id>_<key>; its switch pauses charging."""
    from homeassistant.components.v2c import binary_sensor, number, sensor, switch

    entry, device = add_device(hass, "v2c", "trydan-1", "EVSE 1.1.1.1")
    uid = entry.entry_id
    registrations: list[Registration] = [
        *(("sensor", d, f"{uid}_{d.key}") for d in sensor.TRYDAN_SENSORS),
        *(("switch", d, f"{uid}_{d.key}") for d in switch.TRYDAN_SWITCHES),
        *(("number", d, f"{uid}_{d.key}") for d in number.TRYDAN_NUMBER_SETTINGS),
        *(("binary_sensor", d, f"{uid}_{d.key}") for d in binary_sensor.TRYDAN_SENSORS),
    ]
    entity_ids, units = register(hass, "v2c", entry, device, registrations)
    plug = ("binary_sensor", "connected")
    return Charger(
        "v2c",
        device,
        entity_ids,
        units,
        power=("sensor", "charge_power"),
        energy=("sensor", "charge_energy"),
        unplugged={plug: "off"},
        plugged={plug: "on"},
        charging={plug: "on"},
        inverted=True,
        extra_states={
            entity_ids[("number", "intensity")]: (
                "16",
                {"min": 6, "max": 32, "unit_of_measurement": "A"},
            )
        },
    )


MATTER_NODE = "0000000000000ABC-0000000000000007-MatterNodeDevice"


def matter_evse_registrations(clusters: tuple[str, ...]) -> list[Registration]:
    """Every Matter entity whose primary attribute is in these clusters, with the unique id
    <node device id>-<endpoint>-<key>-<cluster id>-<attribute id> (matter/entity.py)."""
    from homeassistant.components.matter import binary_sensor, number, sensor, switch

    registrations: list[Registration] = []
    seen: set[tuple[str, str]] = set()
    for module in (sensor, switch, number, binary_sensor):
        for schema in module.DISCOVERY_SCHEMAS:
            primary = schema.required_attributes[0]
            if primary.__qualname__.split(".")[0] not in clusters:
                continue
            domain = str(schema.platform)
            description = schema.entity_description
            if (domain, description.key) in seen:
                continue
            seen.add((domain, description.key))
            unique_id = (
                f"{MATTER_NODE}-1-{description.key}-{primary.cluster_id}-{primary.attribute_id}"
            )
            registrations.append((domain, description, unique_id))
    return registrations


EVSE_CLUSTERS = ("EnergyEvse", "ElectricalPowerMeasurement", "ElectricalEnergyMeasurement")


def matter_evse(hass: HomeAssistant) -> Charger:
    entry, device = add_device(hass, "matter", f"deviceid_{MATTER_NODE}", "Matter EVSE")
    registrations = matter_evse_registrations(EVSE_CLUSTERS)
    entity_ids, units = register(hass, "matter", entry, device, registrations)
    plug = ("binary_sensor", "EnergyEvsePlugStateSensor")
    return Charger(
        "matter",
        device,
        entity_ids,
        units,
        power=("sensor", "ElectricalPowerMeasurementWatt"),
        energy=("sensor", "ElectricalEnergyMeasurementCumulativeEnergyImported"),
        unplugged={plug: "off"},
        plugged={plug: "on"},
        charging={plug: "on"},
    )


def tesla_fleet(hass: HomeAssistant) -> Charger:
    """Tesla Fleet's vehicle: unique id <vin>-<key>, the switch <vin>-<description.unique_id>."""
    from homeassistant.components.tesla_fleet import binary_sensor, number, sensor, switch

    vin = "LRWXF7EK4KC700000"
    entry, device = add_device(hass, "tesla_fleet", vin, "Test car")
    registrations: list[Registration] = [
        *(("sensor", d, f"{vin}-{d.key}") for d in sensor.VEHICLE_DESCRIPTIONS),
        *(("number", d, f"{vin}-{d.key}") for d in number.VEHICLE_DESCRIPTIONS),
        *(("binary_sensor", d, f"{vin}-{d.key}") for d in binary_sensor.VEHICLE_DESCRIPTIONS),
        *(("switch", d, f"{vin}-{d.unique_id or d.key}") for d in switch.VEHICLE_DESCRIPTIONS),
    ]
    entity_ids, units = register(hass, "tesla_fleet", entry, device, registrations)
    # the switch's description key is the charging state; index it by its unique id's key too
    charge = next(d for d in switch.VEHICLE_DESCRIPTIONS if d.unique_id)
    entity_ids[("switch", str(charge.unique_id))] = entity_ids[("switch", charge.key)]
    status = ("sensor", "charge_state_charging_state")
    cable = ("binary_sensor", "charge_state_conn_charge_cable")
    return Charger(
        "tesla_fleet",
        device,
        entity_ids,
        units,
        power=("sensor", "charge_state_charger_power"),
        energy=("sensor", "charge_state_charge_energy_added"),
        unplugged={status: "disconnected", cable: "off"},
        plugged={status: "stopped", cable: "on"},
        charging={status: "charging", cable: "on"},
        extra_states={
            entity_ids[("number", "charge_state_charge_current_request")]: (
                "16",
                {"min": 0, "max": 32, "unit_of_measurement": "A"},
            )
        },
    )


# What README.md ("Charger presets") promises each preset maps, by (domain, key) of the entity.
PEBLAR_STATUS = {
    "no_ev_connected": "Available",
    "suspended": "SuspendedEV",
    "charging": "Charging",
    "error": "Faulted",
    "fault": "Faulted",
    "invalid": "Faulted",
}
WALLBOX_STATUS = {
    "Charging": "Charging",
    "Discharging": "SuspendedEV",
    "Paused": "SuspendedEV",
    "Scheduled": "SuspendedEV",
    "Waiting for car demand": "SuspendedEV",
    "Waiting": "Preparing",
    "Disconnected": "Available",
    "Error": "Faulted",
    "Ready": "Available",
    "Locked": "Available",
    "Locked, car connected": "Preparing",
    "Updating": "Unavailable",
    "Waiting in queue by Power Sharing": "SuspendedEV",
    "Waiting in queue by Power Boost": "SuspendedEV",
    "Waiting MID failed": "Faulted",
    "Waiting MID safety margin exceeded": "SuspendedEV",
    "Waiting in queue by Eco-Smart": "SuspendedEV",
}
TESLA_STATUS = {
    "disconnected": "Available",
    "starting": "SuspendedEV",
    "charging": "Charging",
    "stopped": "SuspendedEV",
    "complete": "SuspendedEV",
    "no_power": "Preparing",
}
PROMISED: dict[str, tuple[dict[str, tuple[str, str]], dict[str, Any]]] = {
    "peblar": (
        {
            "charge_switch": ("switch", "charge"),
            "current_number": ("number", "charge_current_limit"),
            "status_sensor": ("sensor", "cp_state"),
            "power": ("sensor", "power_total"),
            "energy": ("sensor", "energy_total"),
        },
        {"status_mapping": PEBLAR_STATUS, "phases": 1},
    ),
    "wallbox": (
        {
            "charge_switch": ("switch", "paused"),
            "current_number": ("number", "max_charging_current"),
            "status_sensor": ("sensor", "status_description"),
            "power": ("sensor", "charging_power"),
            "energy": ("sensor", "added_energy"),
            "max_current": ("sensor", "max_available_power"),
            "soc": ("sensor", "state_of_charge"),
        },
        {"status_mapping": WALLBOX_STATUS, "phases": 1},
    ),
    "v2c": (
        {
            "charge_switch": ("switch", "paused"),
            "current_number": ("number", "intensity"),
            "plug_sensor": ("binary_sensor", "connected"),
            "power": ("sensor", "charge_power"),
            "energy": ("sensor", "charge_energy"),
            # voltage_installation -> voltage only once enabled (disabled by default)
            "max_current": ("number", "max_intensity"),
        },
        {"charge_switch_inverted": True, "phases": 1},
    ),
    "matter": (
        {
            "charge_switch": ("switch", "EnergyEvseChargingSwitch"),
            "plug_sensor": ("binary_sensor", "EnergyEvsePlugStateSensor"),
            "power": ("sensor", "ElectricalPowerMeasurementWatt"),
            "energy": ("sensor", "ElectricalEnergyMeasurementCumulativeEnergyImported"),
            "voltage": ("sensor", "ElectricalPowerMeasurementVoltage"),
            "current": ("sensor", "ElectricalPowerMeasurementActiveCurrent"),
            "max_current": ("sensor", "EnergyEvseCircuitCapacity"),
            "soc": ("sensor", "EnergyEvseStateOfCharge"),
        },
        {"phases": 1},
    ),
    "tesla_fleet": (
        {
            "charge_switch": ("switch", "charge_state_user_charge_enable_request"),
            "current_number": ("number", "charge_state_charge_current_request"),
            "status_sensor": ("sensor", "charge_state_charging_state"),
            "plug_sensor": ("binary_sensor", "charge_state_conn_charge_cable"),
            "power": ("sensor", "charge_state_charger_power"),
            "energy": ("sensor", "charge_state_charge_energy_added"),
            "voltage": ("sensor", "charge_state_charger_voltage"),
            "current": ("sensor", "charge_state_charger_actual_current"),
            "soc": ("sensor", "charge_state_battery_level"),
        },
        {"status_mapping": TESLA_STATUS, "phases": 1},
    ),
}
BUILDERS: dict[str, Callable[[HomeAssistant], Charger]] = {
    "peblar": peblar,
    "wallbox": wallbox,
    "v2c": v2c,
    "matter": matter_evse,
    "tesla_fleet": tesla_fleet,
}


def promised_mapping(charger: Charger) -> dict[str, Any]:
    entities, rest = PROMISED[charger.integration]
    return {
        **{target: charger.entity_ids[source] for target, source in entities.items()},
        **rest,
    }


# -- flow ---------------------------------------------------------------------------------------


@pytest.fixture
def mock_setup_entry() -> Iterator[AsyncMock]:
    """The flows only; the integration itself does not run."""
    with (
        patch("custom_components.ocpp_cp.async_setup_entry", return_value=True) as setup,
        patch("custom_components.ocpp_cp.async_unload_entry", return_value=True),
    ):
        yield setup


def suggested_values(result: Any) -> dict[str, Any]:
    """What the frontend submits for a form nobody touched: the suggested values."""
    values: dict[str, Any] = {}
    for marker in result["data_schema"].schema:
        description = marker.description or {}
        if "suggested_value" in description:
            values[str(marker)] = description["suggested_value"]
    return values


async def start_user_flow(hass: HomeAssistant, csms: TestCsms) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    return await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "csms_url": csms.url,
            "charge_point_id": "CP1",
            "security_profile": "0",
            "number_of_connectors": 1,
        },
    )


async def map_through_flow(hass: HomeAssistant, csms: TestCsms, charger: Charger) -> Any:
    """Pick the device in the flow, accept the mapping form as filled in: the created entry."""
    result = await start_user_flow(hass, csms)
    assert result["step_id"] == "firmware"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"charger_device": charger.device.id}
    )
    assert result["step_id"] == "mapping", result.get("errors")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], suggested_values(result)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    return result


@pytest.mark.parametrize("integration", list(BUILDERS))
async def test_the_flow_maps_each_integrations_device(
    hass: HomeAssistant, csms: TestCsms, mock_setup_entry: AsyncMock, integration: str
) -> None:
    charger = BUILDERS[integration](hass)
    assert async_charger_devices(hass) == [charger.device]
    result = await map_through_flow(hass, csms, charger)
    mapping = result["result"].options["mapping"]["1"]
    assert mapping == {**promised_mapping(charger), "nominal_voltage": 230}


async def test_a_three_phase_peblar_with_its_phase_sensors_enabled(
    hass: HomeAssistant, csms: TestCsms, mock_setup_entry: AsyncMock
) -> None:
    """Per-phase sensors are disabled by default; enabled, they map per phase and make the
    connector three-phase (the single-phase readings drop out)."""
    enabled = frozenset(
        {"current_total", "voltage_phase_1", "voltage_phase_2", "voltage_phase_3"}
        | {"current_phase_1", "current_phase_2", "current_phase_3"}
    )
    charger = peblar(hass, enable=enabled)
    result = await map_through_flow(hass, csms, charger)
    ids = charger.entity_ids
    assert result["result"].options["mapping"]["1"] == {
        **promised_mapping(charger),
        **{f"current_l{n}": ids[("sensor", f"current_phase_{n}")] for n in (1, 2, 3)},
        **{f"voltage_l{n}": ids[("sensor", f"voltage_phase_{n}")] for n in (1, 2, 3)},
        "phases": 3,
        "nominal_voltage": 230,
    }


async def test_a_device_without_the_required_entities_is_refused(
    hass: HomeAssistant, csms: TestCsms, mock_setup_entry: AsyncMock
) -> None:
    """A Matter smart plug (power and energy, no EVSE) cannot charge; nor can a Peblar whose
    charge switch the user disabled. A charger and a firmware device at once is refused too."""
    entry, plug = add_device(hass, "matter", "deviceid_plug", "Smart plug")
    register(
        hass,
        "matter",
        entry,
        plug,
        matter_evse_registrations(("ElectricalPowerMeasurement", "ElectricalEnergyMeasurement")),
    )
    charger = peblar(hass)
    er.async_get(hass).async_update_entity(
        charger.entity_ids[("switch", "charge")], disabled_by=er.RegistryEntryDisabler.USER
    )
    # a helper the user attached to the device is not the charger's, whatever its unique id
    er.async_get(hass).async_get_or_create(
        "switch", "template", f"{charger.device.id}_charge", device_id=charger.device.id
    )
    mqtt = MockConfigEntry(domain="mqtt", data={"broker": "127.0.0.1"})
    mqtt.add_to_hass(hass)
    firmware = add_firmware(hass, mqtt, "garage", THREE_PHASE)
    configure = hass.config_entries.flow.async_configure
    result = await start_user_flow(hass, csms)
    for device in (plug, charger.device):
        result = await configure(result["flow_id"], {"charger_device": device.id})
        assert result["step_id"] == "firmware"
        assert result["errors"] == {"charger_device": "charger_unusable"}
    result = await configure(
        result["flow_id"], {"charger_device": charger.device.id, "firmware_device": firmware.id}
    )
    assert result["errors"] == {"base": "one_device_only"}
    # an unknown device id (removed meanwhile) is refused the same way
    result = await configure(result["flow_id"], {"charger_device": "0123456789abcdef"})
    assert result["errors"] == {"charger_device": "charger_unusable"}
    # and nothing picked: the empty mapping form
    result = await configure(result["flow_id"], {})
    assert result["step_id"] == "mapping"
    assert suggested_values(result) == {}


async def test_options_flow_refills_the_mapping_from_a_charger(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    """The options flow offers the same step; what no preset entity covers is kept."""
    charger = wallbox(hass)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="CP1",
        data={
            "csms_url": "ws://127.0.0.1:9/ocpp",
            "charge_point_id": "CP1",
            "number_of_connectors": 1,
        },
        options={
            "mapping": {
                "1": {
                    "charge_switch": "switch.old",
                    "plug_sensor": "binary_sensor.old_plug",
                    "soc_gate": "binary_sensor.car_home",
                    "nominal_voltage": 220,
                    "phases": 1,
                }
            }
        },
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "mapping"}
    )
    assert result["step_id"] == "firmware"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"charger_device": charger.device.id}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], suggested_values(result)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["mapping"]["1"] == {
        **promised_mapping(charger),
        "soc_gate": "binary_sensor.car_home",
        "nominal_voltage": 220,
    }


def test_unique_id_forms() -> None:
    """The key is found only where the integration puts it, never as part of a longer key."""
    assert unique_id_has_key(UniqueIdForm.SUFFIX_UNDERSCORE, "SN_voltage", "voltage")
    assert not unique_id_has_key(UniqueIdForm.SUFFIX_UNDERSCORE, "SN_voltage_phase_1", "voltage")
    assert unique_id_has_key(UniqueIdForm.PREFIX_DASH, "paused-20000", "paused")
    assert not unique_id_has_key(UniqueIdForm.PREFIX_DASH, "pause_dynamic-20000", "paused")
    assert unique_id_has_key(UniqueIdForm.SUFFIX_DASH, "VIN-charge_state_x", "charge_state_x")
    assert unique_id_has_key(UniqueIdForm.DASH_SEGMENT, f"{MATTER_NODE}-1-Key-153-3", "Key")
    assert not unique_id_has_key(UniqueIdForm.DASH_SEGMENT, f"{MATTER_NODE}-1-KeyX-1-3", "Key")
    assert set(PRESETS) == set(BUILDERS)


async def test_devices_of_other_integrations_are_not_offered(hass: HomeAssistant) -> None:
    entry, device = add_device(hass, "hue", "bridge", "Hue bridge")
    assert async_charger_devices(hass) == []
    assert async_resolve_charger(hass, device.id) is None
    assert async_resolve_charger(hass, "missing") is None


# -- a session through each preset ----------------------------------------------------------------


def in_unit(quantity: str, canonical: float, unit: str | None) -> str:
    """A reading (W or Wh) as the entity shows it, in its display unit."""
    converter = PowerConverter if quantity == "power" else EnergyConverter
    base = "W" if quantity == "power" else "Wh"
    return str(converter.convert(canonical, base, unit) if unit else canonical)


def set_states(hass: HomeAssistant, charger: Charger, states: dict[tuple[str, str], str]) -> None:
    for key, value in states.items():
        hass.states.async_set(charger.entity_ids[key], value)


def set_reading(
    hass: HomeAssistant, charger: Charger, key: tuple[str, str], quantity: str, value: float
) -> None:
    unit = charger.units[key]
    hass.states.async_set(
        charger.entity_ids[key], in_unit(quantity, value, unit), {"unit_of_measurement": unit}
    )


@pytest.mark.parametrize("integration", list(BUILDERS))
async def test_a_session_runs_through_each_preset(
    hass: HomeAssistant, csms: TestCsms, integration: str
) -> None:
    """The flow maps the device and sets the integration up for real; the charger's own entities
    then drive a transaction at the CSMS and the CSMS drives the charger's switch."""
    turn_on = async_mock_service(hass, "switch", "turn_on")
    turn_off = async_mock_service(hass, "switch", "turn_off")
    async_mock_service(hass, "number", "set_value")
    charger = BUILDERS[integration](hass)
    switch = promised_mapping(charger)["charge_switch"]
    permit, forbid = (turn_off, turn_on) if charger.inverted else (turn_on, turn_off)
    set_states(hass, charger, charger.unplugged)
    set_reading(hass, charger, charger.power, "power", 0)
    set_reading(hass, charger, charger.energy, "energy", 12000)
    for entity_id, (value, attributes) in charger.extra_states.items():
        hass.states.async_set(entity_id, value, attributes)
    await map_through_flow(hass, csms, charger)
    await hass.async_block_till_done()
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Available")
    await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"))
    await csms.call(
        call.ChangeConfiguration(
            key="MeterValuesSampledData", value="Energy.Active.Import.Register,Power.Active.Import"
        )
    )

    set_states(hass, charger, charger.plugged)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1))
    assert result.status == "Accepted"
    start = await csms.wait_for("StartTransaction")
    assert start["meter_start"] == 12000
    await hass.async_block_till_done()
    assert [c.data["entity_id"] for c in permit] == [switch]

    after = len(csms.received)
    set_states(hass, charger, charger.charging)
    set_reading(hass, charger, charger.power, "power", 7000)
    set_reading(hass, charger, charger.energy, "energy", 12500)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging", after=after)
    sample = await csms.wait_for(
        "MeterValues",
        lambda p: {(v["measurand"], v["value"]) for v in p["meter_value"][0]["sampled_value"]}
        == {("Power.Active.Import", "7000"), ("Energy.Active.Import.Register", "12500")},
        after=after,
    )
    assert sample["transaction_id"] == start_transaction_id(csms)

    forbidden_before = len(forbid)
    result = await csms.call(call.RemoteStopTransaction(transaction_id=start_transaction_id(csms)))
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction")
    assert (stop["meter_stop"], stop["reason"]) == (12500, "Remote")
    await hass.async_block_till_done()
    assert [c.data["entity_id"] for c in forbid[forbidden_before:]] == [switch]
    assert len(permit) == 1


def start_transaction_id(csms: TestCsms) -> int:
    """The id the test CSMS handed out for the one StartTransaction."""
    return csms.next_transaction_id
