"""The charger's current limit, 6 to 16 A (the OCPP charge point writes the limit in force)."""

from __future__ import annotations

from homeassistant.components.number import NumberDeviceClass, NumberMode, RestoreNumber
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import CHARGER_DEVICE, DemoCar, DemoChargerConfigEntry
from .entity import DemoEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DemoChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([CurrentLimit(entry.runtime_data)])


class CurrentLimit(DemoEntity, RestoreNumber):
    _attr_device_class = NumberDeviceClass.CURRENT
    _attr_native_unit_of_measurement = UnitOfElectricCurrent.AMPERE
    _attr_native_min_value = 6
    _attr_native_max_value = 16  # a 16 A installation: the limit in force never exceeds it
    _attr_native_step = 1
    _attr_mode = NumberMode.SLIDER

    def __init__(self, car: DemoCar) -> None:
        super().__init__(car, CHARGER_DEVICE, "current_limit", "Current limit")

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        last = await self.async_get_last_number_data()
        if last is not None and last.native_value is not None:
            self.car.current_limit = float(last.native_value)
            self.car.notify()

    @property
    def native_value(self) -> float:
        return self.car.current_limit

    async def async_set_native_value(self, value: float) -> None:
        self.car.current_limit = value
        self.car.notify()
