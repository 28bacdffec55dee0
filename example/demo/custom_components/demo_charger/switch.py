"""The car's cable (plug it in from the UI) and the charger's charging switch (OCPP drives it)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from . import CAR_DEVICE, CHARGER_DEVICE, DemoCar, DemoChargerConfigEntry
from .entity import DemoEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DemoChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    car = entry.runtime_data
    async_add_entities([PluggedInSwitch(car), ChargingSwitch(car)])


class _Switch(DemoEntity, SwitchEntity, RestoreEntity):
    attribute = ""

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None:
            setattr(self.car, self.attribute, last.state == STATE_ON)
            self.car.notify()

    @property
    def is_on(self) -> bool:
        return bool(getattr(self.car, self.attribute))

    async def async_turn_on(self, **kwargs: Any) -> None:
        setattr(self.car, self.attribute, True)
        self.car.notify()

    async def async_turn_off(self, **kwargs: Any) -> None:
        setattr(self.car, self.attribute, False)
        self.car.notify()


class PluggedInSwitch(_Switch):
    """Plug the car in or pull the cable (the plug sensor follows it)."""

    attribute = "plugged"
    _attr_icon = "mdi:ev-plug-type2"

    def __init__(self, car: DemoCar) -> None:
        super().__init__(car, CAR_DEVICE, "car_plugged_in", "Plugged in")


class ChargingSwitch(_Switch):
    """The charger's contactor: on = the car may draw current. The OCPP charge point drives it."""

    attribute = "charging_enabled"
    _attr_icon = "mdi:ev-station"

    def __init__(self, car: DemoCar) -> None:
        super().__init__(car, CHARGER_DEVICE, "charging", "Charging")
