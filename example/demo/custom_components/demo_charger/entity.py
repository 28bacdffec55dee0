"""Base entity: follows the shared car model."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity

from . import DemoCar


class DemoEntity(Entity):
    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, car: DemoCar, device: DeviceInfo, key: str, name: str) -> None:
        self.car = car
        self._attr_device_info = device
        self._attr_unique_id = f"demo_charger_{key}"
        self._attr_name = name

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.car.listeners.append(self.async_write_ha_state)
        self.async_on_remove(lambda: self.car.listeners.remove(self.async_write_ha_state))
