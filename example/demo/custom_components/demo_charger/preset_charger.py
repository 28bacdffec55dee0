"""DEMO_PRESET_CHARGER=1: the demo also knows a Peblar charger, for the charger-preset step.

A Peblar config entry (host 127.0.0.1: nothing answers, so Home Assistant keeps retrying its
setup) with its device and the entities the ocpp_cp preset maps, registered in the entity
registry as the Peblar integration registers them (unique id <serial>_<key>). The browser test
(tests/browser/test_presets_browser.py) picks this device in the ocpp_cp flow.
"""

from __future__ import annotations

from types import MappingProxyType

from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

SERIAL = "DEMO-PEBLAR-1"
# (entity domain, description key, translation key, device class, unit) as in Peblar's platforms
ENTITIES = (
    ("switch", "charge", "charge", None, None),
    ("number", "charge_current_limit", "charge_current_limit", "current", "A"),
    ("sensor", "cp_state", "cp_state", "enum", None),
    ("sensor", "power_total", None, "power", "W"),
    ("sensor", "energy_total", "energy_total", "energy", "Wh"),
)


async def async_add_preset_charger(hass: HomeAssistant) -> None:
    """Add the Peblar entry, device and entities once."""
    if hass.config_entries.async_entries("peblar"):
        return
    entry = ConfigEntry(
        domain="peblar",
        title="Peblar (demo)",
        data={"host": "127.0.0.1", "password": "demo"},
        source=SOURCE_USER,
        version=1,
        minor_version=1,
        options={},
        unique_id=SERIAL,
        discovery_keys=MappingProxyType({}),
        subentries_data=None,
    )
    await hass.config_entries.async_add(entry)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={("peblar", SERIAL)},
        manufacturer="Peblar",
        model="Business",
        name="Peblar EV Charger",
    )
    registry = er.async_get(hass)
    for domain, key, translation_key, device_class, unit in ENTITIES:
        registry.async_get_or_create(
            domain,
            "peblar",
            f"{SERIAL}_{key}",
            config_entry=entry,
            device_id=device.id,
            suggested_object_id=f"peblar_{key}",
            translation_key=translation_key,
            original_device_class=device_class,
            unit_of_measurement=unit,
        )
