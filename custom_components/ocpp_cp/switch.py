"""Switches: availability (Operative or Inoperative) as the CSMS sees it.

- One per connector: on = Operative; off = Inoperative (the connector reports Unavailable and
  takes no new session).
- One for the charge point (connector 0): turning it off or on changes every connector, as a
  ChangeAvailability for connector 0 does. With a single connector the connector's switch does
  the job, so this one is disabled by default there.
- While a session runs on a connector (or is being prepared), the change waits for it to end,
  as OCPP's "Scheduled" answer: the switch keeps showing the availability in force and its
  ``scheduled`` attribute is true until the change is applied. Switching back cancels it.
- The change is stored before it is applied (like one from the CSMS), so it survives a restart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bridge import OcppCpBridge, OcppCpConfigEntry
from .const import DOMAIN
from .entity import OcppCpEntity

PARALLEL_UPDATES = 0

# What set_availability answers when the change is stored (applied now, or when the session ends).
STORED = frozenset({"Accepted", "Scheduled"})


def _operative(bridge: OcppCpBridge, connector_id: int) -> bool:
    return bridge.engine.connectors[connector_id].operative


def _connector_scheduled(bridge: OcppCpBridge, connector_id: int) -> bool:
    return bridge.engine.connectors[connector_id].scheduled_operative is not None


def _any_scheduled(bridge: OcppCpBridge, _: int) -> bool:
    return any(c.scheduled_operative is not None for c in bridge.engine.connectors.values())


@dataclass(frozen=True, kw_only=True)
class OcppCpSwitchDescription(SwitchEntityDescription):
    is_on_fn: Callable[[OcppCpBridge, int], bool]
    # A change waits for a session to end.
    scheduled_fn: Callable[[OcppCpBridge, int], bool]


CHARGE_POINT_SWITCHES: tuple[OcppCpSwitchDescription, ...] = (
    OcppCpSwitchDescription(
        key="available",
        translation_key="charge_point_available",
        entity_category=EntityCategory.CONFIG,
        is_on_fn=_operative,
        scheduled_fn=_any_scheduled,
    ),
)

CONNECTOR_SWITCHES: tuple[OcppCpSwitchDescription, ...] = (
    OcppCpSwitchDescription(
        key="available",
        translation_key="connector_available",
        entity_category=EntityCategory.CONFIG,
        is_on_fn=_operative,
        scheduled_fn=_connector_scheduled,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCpConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    bridge = entry.runtime_data
    count = bridge.engine.settings.number_of_connectors
    entities: list[OcppCpSwitch] = [
        OcppCpSwitch(
            bridge,
            description
            if count > 1
            else dataclasses.replace(description, entity_registry_enabled_default=False),
        )
        for description in CHARGE_POINT_SWITCHES
    ]
    for connector_id in range(1, count + 1):
        entities.extend(
            OcppCpSwitch(bridge, description, connector_id) for description in CONNECTOR_SWITCHES
        )
    async_add_entities(entities)


class OcppCpSwitch(OcppCpEntity, SwitchEntity):
    entity_description: OcppCpSwitchDescription

    @property
    def is_on(self) -> bool:
        return self.entity_description.is_on_fn(self.bridge, self.connector_id)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        return {"scheduled": self.entity_description.scheduled_fn(self.bridge, self.connector_id)}

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._set_availability(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._set_availability(False)

    async def _set_availability(self, operative: bool) -> None:
        outcome = await self.bridge.engine.set_availability(self.connector_id, operative)
        # Scheduled changes no status, so the engine has nothing to tell: show it here.
        self.async_write_ha_state()
        if outcome not in STORED:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="availability_not_stored",
                translation_placeholders={"connector": str(self.connector_id)},
            )
