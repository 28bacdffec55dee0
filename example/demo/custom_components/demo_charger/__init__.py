"""A simulated charger and car for the ocpp_cp demo (make demo).

The car model: while the car is plugged in, the charging switch is on and the battery is not full,
the car draws the current limit at 230 V on one phase; the energy register integrates the power
and the battery fills up. ``demo_charger:`` in configuration.yaml creates the single config entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import voluptuous as vol
from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

DOMAIN = "demo_charger"
CONFIG_SCHEMA = vol.Schema({DOMAIN: vol.Any(None, {})}, extra=vol.ALLOW_EXTRA)
PLATFORMS = [Platform.BINARY_SENSOR, Platform.NUMBER, Platform.SENSOR, Platform.SWITCH]

VOLTAGE = 230.0
BATTERY_KWH = 40.0
TICK = timedelta(seconds=1)

CHARGER_DEVICE = DeviceInfo(
    identifiers={(DOMAIN, "charger")},
    name="Demo charger",
    manufacturer="ocpp_cp demo",
    model="Simulated wallbox",
)
CAR_DEVICE = DeviceInfo(
    identifiers={(DOMAIN, "car")},
    name="Demo car",
    manufacturer="ocpp_cp demo",
    model="Simulated car, 40 kWh",
)


@dataclass
class DemoCar:
    """The charger and the car: inputs set by entities, outputs computed every second."""

    plugged: bool = False
    charging_enabled: bool = False
    current_limit: float = 16.0
    soc: float = 30.0  # %
    energy_kwh: float = 0.0  # the charger's energy register, never decreases
    current: float = 0.0
    power: float = 0.0
    listeners: list[Callable[[], None]] = field(default_factory=list)

    @property
    def drawing(self) -> bool:
        return self.plugged and self.charging_enabled and self.soc < 100.0

    def update_outputs(self) -> None:
        self.current = self.current_limit if self.drawing else 0.0
        self.power = round(self.current * VOLTAGE, 1)

    def advance(self, seconds: float) -> None:
        """Integrate the power drawn over ``seconds``, then recompute the outputs."""
        kwh = self.power * seconds / 3_600_000
        self.energy_kwh = round(self.energy_kwh + kwh, 5)
        self.soc = min(100.0, round(self.soc + kwh / BATTERY_KWH * 100, 4))
        self.update_outputs()

    @callback
    def notify(self) -> None:
        self.update_outputs()
        for listener in list(self.listeners):
            listener()


type DemoChargerConfigEntry = ConfigEntry[DemoCar]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Create the config entry from ``demo_charger:`` in configuration.yaml (once)."""
    if DOMAIN in config and not hass.config_entries.async_entries(DOMAIN):
        hass.async_create_task(
            hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_IMPORT})
        )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: DemoChargerConfigEntry) -> bool:
    car = DemoCar()
    entry.runtime_data = car
    last = dt_util.utcnow()

    @callback
    def tick(now: object) -> None:
        nonlocal last
        moment = dt_util.utcnow()
        car.advance((moment - last).total_seconds())
        last = moment
        car.notify()

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if os.environ.get("DEMO_PRESET_CHARGER") == "1":
        from .preset_charger import async_add_preset_charger

        hass.async_create_task(async_add_preset_charger(hass), "demo preset charger")
    entry.async_on_unload(async_track_time_interval(hass, tick, TICK, name="demo car"))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: DemoChargerConfigEntry) -> bool:
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
