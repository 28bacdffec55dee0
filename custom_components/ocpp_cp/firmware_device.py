"""The companion firmware (firmware/micropython) as a Home Assistant device.

The firmware announces itself through MQTT discovery: one device (manufacturer "ocpp_cp", model
"MicroPython EVSE", identifier ``ocpp_cp_fw_<node_id>``) whose entities have the unique ids
``<node_id>_<key>``. This module finds such devices, resolves their entities through the entity
registry (by unique id, never by guessing entity ids) into a connector mapping, and derives the
firmware's MQTT base topic from the discovery data Home Assistant's MQTT integration keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .const import (
    MAP_CHARGE_SWITCH,
    MAP_CURRENT,
    MAP_CURRENT_L1,
    MAP_CURRENT_L2,
    MAP_CURRENT_L3,
    MAP_CURRENT_NUMBER,
    MAP_CURRENT_OFFERED,
    MAP_ENERGY,
    MAP_FIRMWARE_TOPIC,
    MAP_PHASES,
    MAP_PLUG,
    MAP_POWER,
    MAP_STATUS,
    MAP_STATUS_MAPPING,
    MAP_TEMPERATURE,
    MAP_VOLTAGE,
    MAP_VOLTAGE_L1,
    MAP_VOLTAGE_L2,
    MAP_VOLTAGE_L3,
)

MQTT_DOMAIN: Final = "mqtt"
FIRMWARE_MANUFACTURER: Final = "ocpp_cp"
FIRMWARE_MODEL: Final = "MicroPython EVSE"
IDENTIFIER_PREFIX: Final = "ocpp_cp_fw_"
# The firmware's default base topic (mqtt.base left empty in its configuration).
DEFAULT_BASE: Final = "ocpp_cp/{node_id}"
# Commands the firmware takes on <base>/<key>/set.
COMMAND_KEYS: Final = ("charging", "current_limit", "reset_fault", "heartbeat")
HEARTBEAT_SUFFIX: Final = "/heartbeat/set"

# Firmware entity key -> its entity domain (the keys ocpp_cp uses; the others are ignored).
ENTITY_DOMAINS: Final[Mapping[str, str]] = {
    "charging": "switch",
    "current_limit": "number",
    "plug": "binary_sensor",
    "state": "sensor",
    "offered_current": "sensor",
    "energy": "sensor",
    "power": "sensor",
    "temperature": "sensor",
    "current_l1": "sensor",
    "current_l2": "sensor",
    "current_l3": "sensor",
    "voltage_l1": "sensor",
    "voltage_l2": "sensor",
    "voltage_l3": "sensor",
}

# Firmware entity key -> mapping key, whatever the number of phases.
_DIRECT: Final[Mapping[str, str]] = {
    "charging": MAP_CHARGE_SWITCH,
    "current_limit": MAP_CURRENT_NUMBER,
    "plug": MAP_PLUG,
    "state": MAP_STATUS,
    "offered_current": MAP_CURRENT_OFFERED,
    "energy": MAP_ENERGY,
    "power": MAP_POWER,
    "temperature": MAP_TEMPERATURE,
}
_THREE_PHASE: Final[Mapping[str, str]] = {
    "current_l1": MAP_CURRENT_L1,
    "current_l2": MAP_CURRENT_L2,
    "current_l3": MAP_CURRENT_L3,
    "voltage_l1": MAP_VOLTAGE_L1,
    "voltage_l2": MAP_VOLTAGE_L2,
    "voltage_l3": MAP_VOLTAGE_L3,
}
_L2_L3: Final = ("current_l2", "current_l3", "voltage_l2", "voltage_l3")
_SINGLE_PHASE: Final[Mapping[str, str]] = {"current_l1": MAP_CURRENT, "voltage_l1": MAP_VOLTAGE}

# The firmware's EVSE states (its `state` enum sensor) as OCPP statuses.
STATUS_MAPPING: Final[Mapping[str, str]] = {
    "no_car": "Available",
    "waiting": "Preparing",
    "suspended_ev": "SuspendedEV",
    "suspended_evse": "SuspendedEVSE",
    "starting": "Charging",
    "charging": "Charging",
    "stopping": "SuspendedEVSE",
    "fault": "Faulted",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmwareDevice:
    """One firmware device: its node id, MQTT base topic and entities by firmware key."""

    device_id: str
    node_id: str | None
    topic: str
    entities: Mapping[str, str] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """A charge switch and a plug or state sensor: enough for a mapping."""
        return "charging" in self.entities and ("plug" in self.entities or "state" in self.entities)

    @property
    def three_phase(self) -> bool:
        return any(key in self.entities for key in _L2_L3)

    def mapping(self) -> dict[str, Any]:
        """The connector mapping this device fills in (the flow's suggestions)."""
        entities = self.entities
        mapping: dict[str, Any] = {
            target: entities[key] for key, target in _DIRECT.items() if key in entities
        }
        phases = _THREE_PHASE if self.three_phase else _SINGLE_PHASE
        mapping.update({target: entities[key] for key, target in phases.items() if key in entities})
        mapping[MAP_PHASES] = 3 if self.three_phase else 1
        if MAP_STATUS in mapping:
            mapping[MAP_STATUS_MAPPING] = dict(STATUS_MAPPING)
        mapping[MAP_FIRMWARE_TOPIC] = self.topic
        return mapping


def is_firmware_device(device: dr.DeviceEntry) -> bool:
    return device.manufacturer == FIRMWARE_MANUFACTURER and device.model == FIRMWARE_MODEL


def node_id_of(device: dr.DeviceEntry) -> str | None:
    """The node id in the device's MQTT identifier ``ocpp_cp_fw_<node_id>``."""
    for domain, identifier in sorted(device.identifiers):
        if domain == MQTT_DOMAIN and identifier.startswith(IDENTIFIER_PREFIX):
            return identifier.removeprefix(IDENTIFIER_PREFIX) or None
    return None


@callback
def async_firmware_devices(hass: HomeAssistant) -> list[dr.DeviceEntry]:
    """Every enabled firmware device in the device registry, by name."""
    devices = [
        device
        for device in dr.async_get(hass).devices.values()
        if is_firmware_device(device) and device.disabled_by is None
    ]
    return sorted(devices, key=lambda d: (d.name_by_user or d.name or "", d.id))


def firmware_key(unique_id: str, node_id: str | None) -> str | None:
    """The firmware key in an entity's unique id ``<node_id>_<key>``."""
    if node_id is not None:
        key = unique_id.removeprefix(f"{node_id}_")
        return key if key != unique_id and key in ENTITY_DOMAINS else None
    # No node id known: the longest key the unique id ends with ("current_l1", not "l1").
    for key in sorted(ENTITY_DOMAINS, key=len, reverse=True):
        if unique_id.endswith(f"_{key}"):
            return key
    return None


def base_topic_of(payloads: list[Any]) -> str | None:
    """The base topic in discovery payloads (abbreviations and ``~`` already expanded by HA):
    a command topic ``<base>/<command>/set``, else ``<base>/state`` or ``<base>/status``."""
    found: dict[str, str] = {}
    for payload in payloads:
        if not isinstance(payload, Mapping):
            continue
        command = payload.get("command_topic")
        if isinstance(command, str):
            base, _, rest = command.rpartition("/")
            base, _, key = base.rpartition("/")
            if rest == "set" and key in COMMAND_KEYS and base:
                found.setdefault("command", base)
        for kind, suffix in (("state", "/state"), ("status", "/status")):
            topic = payload.get("state_topic" if kind == "state" else "availability_topic")
            if isinstance(topic, str) and topic.endswith(suffix) and len(topic) > len(suffix):
                found.setdefault(kind, topic.removesuffix(suffix))
    for kind in ("command", "state", "status"):
        if kind in found:
            return found[kind]
    return None


@callback
def async_discovery_payloads(hass: HomeAssistant, device_id: str) -> list[Any]:
    """The discovery payloads of a device's MQTT entities (empty while MQTT is not loaded)."""
    if not hass.config_entries.async_loaded_entries(MQTT_DOMAIN):
        return []
    from homeassistant.components.mqtt.debug_info import info_for_device

    entities = info_for_device(hass, device_id).get("entities", [])
    return [info.get("discovery_data", {}).get("payload") for info in entities]


@callback
def async_resolve(hass: HomeAssistant, device_id: str) -> FirmwareDevice | None:
    """The firmware device with this id and its entities; None if it is not one."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None or not is_firmware_device(device):
        return None
    node_id = node_id_of(device)
    entities: dict[str, str] = {}
    for entry in er.async_entries_for_device(er.async_get(hass), device_id):
        if entry.platform != MQTT_DOMAIN or entry.disabled_by is not None:
            continue
        key = firmware_key(entry.unique_id, node_id)
        if key is not None and entry.domain == ENTITY_DOMAINS[key]:
            entities.setdefault(key, entry.entity_id)
    topic = base_topic_of(async_discovery_payloads(hass, device_id))
    if topic is None and node_id is not None:
        topic = DEFAULT_BASE.format(node_id=node_id)
    if topic is None:
        return None
    return FirmwareDevice(device_id=device_id, node_id=node_id, topic=topic, entities=entities)


@callback
def async_device_of_entity(hass: HomeAssistant, entity_id: str | None) -> str | None:
    """The firmware device an entity belongs to, if any."""
    if not entity_id:
        return None
    entry = er.async_get(hass).async_get(entity_id)
    if entry is None or entry.device_id is None:
        return None
    device = dr.async_get(hass).async_get(entry.device_id)
    return device.id if device is not None and is_firmware_device(device) else None


@callback
def async_topic_for_switch(hass: HomeAssistant, entity_id: str | None) -> str | None:
    """The base topic of the firmware whose charging switch this entity is, else None."""
    device_id = async_device_of_entity(hass, entity_id)
    firmware = async_resolve(hass, device_id) if device_id else None
    if firmware is None or firmware.entities.get("charging") != entity_id:
        return None
    return firmware.topic
