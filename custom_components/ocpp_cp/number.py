"""Number: each connector's local current limit, set from a dashboard.

The same local limit as the ``ocpp_cp.set_limit`` service (one engine call): the limit in force
is the lowest of it, the CSMS's charging profiles and the hardware maximum.

- The range is 0 to the connector's hardware maximum (the mapped maximum-current entity, else
  the mapped limit number's own maximum, else the configured default), in steps of 1 A.
- 0 (or anything below the charger's minimum, usually 6 A) pauses the session as SuspendedEVSE
  without ending it.
- No local limit reads as the hardware maximum ("nothing of my own below what the hardware
  can do"), and setting the maximum clears the local limit: the top of the slider is "no local
  limit", never a limit that would stay behind when the hardware maximum rises.
- Setting a value replaces any local limit or schedule (set_limit, set_schedule) on the
  connector. A local limit given only in watts has no value in amperes and reads as no limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bridge import OcppCpBridge, OcppCpConfigEntry
from .const import DOMAIN
from .entity import OcppCpEntity

PARALLEL_UPDATES = 0


def hardware_max(bridge: OcppCpBridge, connector_id: int) -> float:
    """The most this connector's hardware allows now, as the engine counts it."""
    amps = bridge.engine.connectors[connector_id].hardware_max_amps
    return bridge.engine.settings.hardware_max_current if amps is None else amps


def local_limit(bridge: OcppCpBridge, connector_id: int) -> float:
    """The local limit in amperes; none (or one above the hardware) reads as the maximum."""
    maximum = hardware_max(bridge, connector_id)
    amps = bridge.engine.local_limit_amps(connector_id)
    return maximum if amps is None else min(amps, maximum)


def set_local_limit(bridge: OcppCpBridge, connector_id: int, amps: float) -> None:
    """Set the local limit like the set_limit service; the maximum clears it."""
    if amps >= hardware_max(bridge, connector_id):
        bridge.clear_local_limit(connector_id)
    else:
        bridge.set_local_limit(connector_id, amps, None, None)


@dataclass(frozen=True, kw_only=True)
class OcppCpNumberDescription(NumberEntityDescription):
    value_fn: Callable[[OcppCpBridge, int], float]
    max_fn: Callable[[OcppCpBridge, int], float]
    set_fn: Callable[[OcppCpBridge, int, float], None]


CONNECTOR_NUMBERS: tuple[OcppCpNumberDescription, ...] = (
    OcppCpNumberDescription(
        key="local_limit",
        translation_key="local_limit",
        device_class=NumberDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_min_value=0,
        native_step=1,
        mode=NumberMode.SLIDER,
        value_fn=local_limit,
        max_fn=hardware_max,
        set_fn=set_local_limit,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCpConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    bridge = entry.runtime_data
    async_add_entities(
        OcppCpNumber(bridge, description, connector_id)
        for connector_id in range(1, bridge.engine.settings.number_of_connectors + 1)
        for description in CONNECTOR_NUMBERS
    )


class OcppCpNumber(OcppCpEntity, NumberEntity):
    entity_description: OcppCpNumberDescription

    @property
    def native_value(self) -> float:
        return self.entity_description.value_fn(self.bridge, self.connector_id)

    @property
    def native_max_value(self) -> float:
        return self.entity_description.max_fn(self.bridge, self.connector_id)

    async def async_set_native_value(self, value: float) -> None:
        # Home Assistant has checked the range; NaN passes every comparison, so not that.
        if not math.isfinite(value):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_current",
                translation_placeholders={"value": str(value)},
            )
        self.entity_description.set_fn(self.bridge, self.connector_id, value)
        # The engine tells listeners when the limit in force changes; a local limit under a
        # lower CSMS limit changes nothing there, and this entity must show it all the same.
        self.async_write_ha_state()
