"""Base entity: one device per charge point, connectors as sub-devices when there are several."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .bridge import OcppCpBridge
from .const import CONF_CONNECTORS, DOMAIN


class OcppCpEntity(Entity):
    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, bridge: OcppCpBridge, description: EntityDescription, connector_id: int = 0
    ) -> None:
        self.bridge = bridge
        self.entity_description = description
        self.connector_id = connector_id
        entry = bridge.entry
        # The entry id, not the unique id: reconfiguring to another CSMS rewrites the unique id
        # (URL + charge point id), and entities and the device must stay what they are.
        base = entry.entry_id
        suffix = description.key if connector_id == 0 else f"{connector_id}_{description.key}"
        self._attr_unique_id = f"{base}_{suffix}"
        several = int(entry.data.get(CONF_CONNECTORS, 1)) > 1
        if connector_id == 0 or not several:
            self._attr_device_info = DeviceInfo(
                identifiers={(DOMAIN, base)},
                name=bridge.charge_point_id,
                manufacturer=bridge.engine.settings.vendor,
                model=bridge.engine.settings.model,
                serial_number=bridge.engine.settings.serial_number,
                sw_version=bridge.engine.settings.firmware_version,
            )
        else:
            self._attr_device_info = DeviceInfo(
                identifiers={(DOMAIN, f"{base}_{connector_id}")},
                translation_key="connector",
                translation_placeholders={
                    "charge_point_id": bridge.charge_point_id,
                    "connector": str(connector_id),
                },
                via_device=(DOMAIN, base),
            )

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self.bridge.async_add_listener(self.async_write_ha_state))
