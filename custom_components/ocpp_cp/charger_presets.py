"""Presets for Home Assistant's EV-charger integrations: pick the charger's device, get a mapping.

Each preset says, for one integration, which of its entities fill which mapping field. Entities
are found through the entity registry: the registry platform (the integration's domain), the
entity domain, and the integration's entity-description key, read from the entity's unique id
in the form that integration builds it (checked against the entity descriptions of the Home
Assistant release we pin: tests/integration/test_charger_presets.py registers entities from
those very descriptions). Entity ids are never guessed: users rename them.

What each preset covers, and which integrations could not be covered and why, is in README.md
("Charger presets").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from homeassistant.config_entries import ConfigEntries
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .const import (
    MAP_CHARGE_SWITCH,
    MAP_CHARGE_SWITCH_INVERTED,
    MAP_CURRENT,
    MAP_CURRENT_L1,
    MAP_CURRENT_L2,
    MAP_CURRENT_L3,
    MAP_CURRENT_NUMBER,
    MAP_ENERGY,
    MAP_MAX_CURRENT,
    MAP_PHASES,
    MAP_PLUG,
    MAP_POWER,
    MAP_SOC,
    MAP_STATUS,
    MAP_STATUS_MAPPING,
    MAP_VOLTAGE,
    MAP_VOLTAGE_L1,
    MAP_VOLTAGE_L2,
    MAP_VOLTAGE_L3,
)

# Mapping fields that only a three-phase charger has: any of them present means phases = 3.
THREE_PHASE_FIELDS: Final = frozenset(
    {MAP_CURRENT_L2, MAP_CURRENT_L3, MAP_VOLTAGE_L2, MAP_VOLTAGE_L3}
)


class UniqueIdForm(StrEnum):
    """Where an integration puts the description key in its entities' unique ids."""

    SUFFIX_UNDERSCORE = "suffix_underscore"  # <something>_<key>
    SUFFIX_DASH = "suffix_dash"  # <something>-<key>
    PREFIX_DASH = "prefix_dash"  # <key>-<something>
    DASH_SEGMENT = (
        "dash_segment"  # <...>-<key>-<...> (Matter: <node>-<endpoint>-<key>-<cluster>-<attribute>)
    )


def unique_id_has_key(form: UniqueIdForm, unique_id: str, key: str) -> bool:
    """Whether a unique id built in this form carries this description key."""
    if form is UniqueIdForm.SUFFIX_UNDERSCORE:
        return unique_id.endswith(f"_{key}")
    if form is UniqueIdForm.SUFFIX_DASH:
        return unique_id.endswith(f"-{key}")
    if form is UniqueIdForm.PREFIX_DASH:
        return unique_id.startswith(f"{key}-")
    return f"-{key}-" in unique_id


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerPreset:
    """How one integration's entities map onto a connector mapping."""

    integration: str  # the registry platform and the device's integration
    title: str
    unique_id_form: UniqueIdForm
    # (entity domain, description key) -> mapping field, in order of preference per field
    fields: Mapping[tuple[str, str], str]
    # The status sensor's states (the integration's enum options) as OCPP statuses.
    status_mapping: Mapping[str, str] = field(default_factory=dict)
    # The charging switch is on when charging is *paused* (or the charger blocked).
    inverted_switch: bool = False


PEBLAR: Final = ChargerPreset(
    integration="peblar",
    title="Peblar",
    unique_id_form=UniqueIdForm.SUFFIX_UNDERSCORE,
    fields={
        ("switch", "charge"): MAP_CHARGE_SWITCH,
        ("number", "charge_current_limit"): MAP_CURRENT_NUMBER,
        ("sensor", "cp_state"): MAP_STATUS,
        ("sensor", "power_total"): MAP_POWER,
        ("sensor", "energy_total"): MAP_ENERGY,
        ("sensor", "current_total"): MAP_CURRENT,
        ("sensor", "current_phase_1"): MAP_CURRENT_L1,
        ("sensor", "current_phase_2"): MAP_CURRENT_L2,
        ("sensor", "current_phase_3"): MAP_CURRENT_L3,
        ("sensor", "voltage"): MAP_VOLTAGE,
        ("sensor", "voltage_phase_1"): MAP_VOLTAGE_L1,
        ("sensor", "voltage_phase_2"): MAP_VOLTAGE_L2,
        ("sensor", "voltage_phase_3"): MAP_VOLTAGE_L3,
    },
    # PEBLAR_CP_STATE_TO_HOME_ASSISTANT: IEC 61851 control pilot states A..F
    status_mapping={
        "no_ev_connected": "Available",
        "suspended": "SuspendedEV",
        "charging": "Charging",
        "error": "Faulted",
        "fault": "Faulted",
        "invalid": "Faulted",
    },
)

WALLBOX: Final = ChargerPreset(
    integration="wallbox",
    title="Wallbox",
    unique_id_form=UniqueIdForm.PREFIX_DASH,
    fields={
        ("switch", "paused"): MAP_CHARGE_SWITCH,  # "Pause/resume": on = charging resumed
        ("number", "max_charging_current"): MAP_CURRENT_NUMBER,
        ("sensor", "status_description"): MAP_STATUS,
        ("sensor", "charging_power"): MAP_POWER,
        ("sensor", "added_energy"): MAP_ENERGY,
        ("sensor", "max_available_power"): MAP_MAX_CURRENT,  # in A despite its name
        ("sensor", "state_of_charge"): MAP_SOC,
    },
    # wallbox.const.ChargerStatus values
    status_mapping={
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
    },
)

V2C: Final = ChargerPreset(
    integration="v2c",
    title="V2C Trydan",
    unique_id_form=UniqueIdForm.SUFFIX_UNDERSCORE,
    fields={
        ("switch", "paused"): MAP_CHARGE_SWITCH,  # on = paused: inverted
        ("number", "intensity"): MAP_CURRENT_NUMBER,
        ("binary_sensor", "connected"): MAP_PLUG,
        ("sensor", "charge_power"): MAP_POWER,
        ("sensor", "charge_energy"): MAP_ENERGY,
        ("sensor", "voltage_installation"): MAP_VOLTAGE,
        ("number", "max_intensity"): MAP_MAX_CURRENT,
    },
    inverted_switch=True,
)

MATTER_EVSE: Final = ChargerPreset(
    integration="matter",
    title="Matter EVSE",
    unique_id_form=UniqueIdForm.DASH_SEGMENT,
    fields={
        ("switch", "EnergyEvseChargingSwitch"): MAP_CHARGE_SWITCH,
        ("binary_sensor", "EnergyEvsePlugStateSensor"): MAP_PLUG,
        ("sensor", "ElectricalPowerMeasurementWatt"): MAP_POWER,
        ("sensor", "ElectricalEnergyMeasurementCumulativeEnergyImported"): MAP_ENERGY,
        ("sensor", "ElectricalPowerMeasurementVoltage"): MAP_VOLTAGE,
        ("sensor", "ElectricalPowerMeasurementActiveCurrent"): MAP_CURRENT,
        ("sensor", "EnergyEvseCircuitCapacity"): MAP_MAX_CURRENT,
        ("sensor", "EnergyEvseStateOfCharge"): MAP_SOC,
    },
)

TESLA_FLEET: Final = ChargerPreset(
    integration="tesla_fleet",
    title="Tesla Fleet (the car controls a charger without an integration)",
    unique_id_form=UniqueIdForm.SUFFIX_DASH,
    fields={
        ("switch", "charge_state_user_charge_enable_request"): MAP_CHARGE_SWITCH,
        ("number", "charge_state_charge_current_request"): MAP_CURRENT_NUMBER,
        ("sensor", "charge_state_charging_state"): MAP_STATUS,
        ("binary_sensor", "charge_state_conn_charge_cable"): MAP_PLUG,
        ("sensor", "charge_state_charger_power"): MAP_POWER,
        ("sensor", "charge_state_charge_energy_added"): MAP_ENERGY,
        ("sensor", "charge_state_charger_voltage"): MAP_VOLTAGE,
        ("sensor", "charge_state_charger_actual_current"): MAP_CURRENT,
        ("sensor", "charge_state_battery_level"): MAP_SOC,
    },
    # tesla_fleet.sensor.CHARGE_STATES values
    status_mapping={
        "disconnected": "Available",
        "starting": "SuspendedEV",
        "charging": "Charging",
        "stopped": "SuspendedEV",
        "complete": "SuspendedEV",
        "no_power": "Preparing",
    },
)

PRESETS: Final[Mapping[str, ChargerPreset]] = {
    preset.integration: preset for preset in (PEBLAR, WALLBOX, V2C, MATTER_EVSE, TESLA_FLEET)
}


@dataclass(frozen=True, slots=True)
class ResolvedCharger:
    """A device of a supported integration and the entities found for each mapping field."""

    preset: ChargerPreset
    entities: Mapping[str, str]

    @property
    def usable(self) -> bool:
        """A charging switch and a plug or status sensor: what every mapping needs."""
        return MAP_CHARGE_SWITCH in self.entities and (
            MAP_PLUG in self.entities or MAP_STATUS in self.entities
        )

    def mapping(self) -> dict[str, Any]:
        """The connector mapping this device fills in (the flow's suggestions)."""
        mapping: dict[str, Any] = dict(self.entities)
        three_phase = any(key in THREE_PHASE_FIELDS for key in mapping)
        mapping[MAP_PHASES] = 3 if three_phase else 1
        if three_phase:  # the per-phase readings replace the single-phase ones
            for single, first in ((MAP_CURRENT, MAP_CURRENT_L1), (MAP_VOLTAGE, MAP_VOLTAGE_L1)):
                if first in mapping:
                    mapping.pop(single, None)
        if MAP_STATUS in mapping and self.preset.status_mapping:
            mapping[MAP_STATUS_MAPPING] = dict(self.preset.status_mapping)
        if self.preset.inverted_switch and MAP_CHARGE_SWITCH in mapping:
            mapping[MAP_CHARGE_SWITCH_INVERTED] = True
        return mapping


@callback
def async_charger_devices(hass: HomeAssistant) -> list[dr.DeviceEntry]:
    """Every enabled device of a supported integration (a config entry of its domain)."""
    entries = hass.config_entries
    devices = [
        device
        for device in dr.async_get(hass).devices.values()
        if device.disabled_by is None and _preset_of(entries, device) is not None
    ]
    return sorted(devices, key=lambda d: (d.name_by_user or d.name or "", d.id))


def _preset_of(entries: ConfigEntries, device: dr.DeviceEntry) -> ChargerPreset | None:
    """The preset of the integration whose config entry the device belongs to."""
    for entry_id in sorted(device.config_entries):
        entry = entries.async_get_entry(entry_id)
        if entry is not None and entry.domain in PRESETS:
            return PRESETS[entry.domain]
    return None


@callback
def async_resolve_charger(hass: HomeAssistant, device_id: str) -> ResolvedCharger | None:
    """The preset of this device and its enabled entities; None if no preset applies."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return None
    preset = _preset_of(hass.config_entries, device)
    if preset is None:
        return None
    entities: dict[str, str] = {}
    registry = er.async_get(hass)
    for entry in er.async_entries_for_device(registry, device_id):
        if entry.platform != preset.integration or entry.disabled_by is not None:
            continue
        for (domain, key), target in preset.fields.items():
            if entry.domain == domain and unique_id_has_key(
                preset.unique_id_form, entry.unique_id, key
            ):
                entities.setdefault(target, entry.entity_id)
    return ResolvedCharger(preset, entities)
