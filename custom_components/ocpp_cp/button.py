"""Button: drop the CSMS connection and dial again now."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bridge import OcppCpConfigEntry
from .entity import OcppCpEntity

PARALLEL_UPDATES = 0

RECONNECT = ButtonEntityDescription(
    key="reconnect", translation_key="reconnect", entity_category=EntityCategory.DIAGNOSTIC
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCpConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([OcppCpReconnectButton(entry.runtime_data, RECONNECT)])


class OcppCpReconnectButton(OcppCpEntity, ButtonEntity):
    async def async_press(self) -> None:
        self.bridge.engine.go_online()
        self.bridge.engine.reconnect()
