"""The charger's plug sensor: on while the car's cable is plugged in."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
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
    async_add_entities([PlugSensor(entry.runtime_data)])


class PlugSensor(DemoEntity, BinarySensorEntity):
    _attr_device_class = BinarySensorDeviceClass.PLUG

    def __init__(self, car: DemoCar) -> None:
        super().__init__(car, CHARGER_DEVICE, "plug", "Plug")

    @property
    def is_on(self) -> bool:
        return self.car.plugged
