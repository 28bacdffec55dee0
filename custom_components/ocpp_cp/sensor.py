"""Sensors: connection state, connector status, transaction, session and offered current."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfElectricCurrent, UnitOfEnergy, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bridge import OcppCpBridge, OcppCpConfigEntry
from .const import DOMAIN, OCPP_STATUSES
from .engine import ConnectErrorKind, ConnectionState
from .entity import OcppCpEntity

PARALLEL_UPDATES = 0


def snake(status: str) -> str:
    """OCPP status -> enum option (translation keys are lower snake case)."""
    return {"SuspendedEV": "suspended_ev", "SuspendedEVSE": "suspended_evse"}.get(
        status, status.lower()
    )


@dataclass(frozen=True, kw_only=True)
class OcppCpSensorDescription(SensorEntityDescription):
    value_fn: Callable[[OcppCpBridge, int], Any]
    attributes_fn: Callable[[OcppCpBridge, int], dict[str, Any] | None] | None = None
    # Seeds the bridge with the value before a restart (the last session's energy).
    restore_fn: Callable[[OcppCpBridge, int, float], object] | None = None


LIMIT_SOURCES = [
    "charge_point_max",
    "tx_profile",
    "tx_default_profile",
    "local",
    "site_guard",
    "hardware",
]


def _limit_source_attributes(bridge: OcppCpBridge, connector_id: int) -> dict[str, Any]:
    source = bridge.engine.limit_in_force(connector_id).source
    return {
        "profile_id": source.profile_id,
        "stack_level": source.stack_level,
        "profile_connector": source.connector_id,
    }


def _reservation_attributes(bridge: OcppCpBridge, connector_id: int) -> dict[str, Any] | None:
    reservation = bridge.engine.connectors[connector_id].reservation
    if reservation is None:
        return None
    return {
        "reservation_id": reservation.reservation_id,
        "id_tag": reservation.id_tag,
        "parent_id_tag": reservation.parent_id_tag,
    }


# "Last connection error" as a translated enum: on a healthy link it reads "None", not
# "Unknown"; the message itself (which HA cannot translate) is the `detail` attribute.
CONNECTION_ERRORS = ["none", *(kind.value for kind in ConnectErrorKind), "connection_lost"]


def _last_error(bridge: OcppCpBridge, _: int) -> str:
    engine = bridge.engine
    if engine.last_error_kind is not None:
        return engine.last_error_kind.value
    return "none" if engine.last_error is None else "connection_lost"


def _last_error_attributes(bridge: OcppCpBridge, _: int) -> dict[str, Any]:
    return {"detail": (bridge.engine.last_error or "")[:255] or None}


def _heartbeat(bridge: OcppCpBridge, _: int) -> datetime | None:
    at = bridge.engine.last_heartbeat
    return None if at is None else datetime.fromtimestamp(at, UTC)


CHARGE_POINT_SENSORS: tuple[OcppCpSensorDescription, ...] = (
    OcppCpSensorDescription(
        key="connection_state",
        translation_key="connection_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in ConnectionState],
        value_fn=lambda bridge, _: bridge.engine.state.value,
    ),
    OcppCpSensorDescription(
        key="last_error",
        translation_key="last_error",
        device_class=SensorDeviceClass.ENUM,
        options=CONNECTION_ERRORS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_last_error,
        attributes_fn=_last_error_attributes,
    ),
    OcppCpSensorDescription(
        key="last_heartbeat",
        translation_key="last_heartbeat",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_heartbeat,
    ),
)

# Only with the site fuse guard switched on in the options.
SITE_GUARD_SENSORS: tuple[OcppCpSensorDescription, ...] = (
    OcppCpSensorDescription(
        key="site_headroom",
        translation_key="site_headroom",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda bridge, _: bridge.site_guard.headroom if bridge.site_guard else None,
    ),
)

CONNECTOR_SENSORS: tuple[OcppCpSensorDescription, ...] = (
    OcppCpSensorDescription(
        key="status",
        translation_key="connector_status",
        device_class=SensorDeviceClass.ENUM,
        options=[snake(status) for status in OCPP_STATUSES],
        value_fn=lambda bridge, c: snake(bridge.engine.connectors[c].status()),
    ),
    OcppCpSensorDescription(
        key="transaction_id",
        translation_key="transaction_id",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda bridge, c: (
            tx.transaction_id if (tx := bridge.engine.connectors[c].transaction) else None
        ),
    ),
    OcppCpSensorDescription(
        key="id_tag",
        translation_key="id_tag",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda bridge, c: (
            tx.id_tag if (tx := bridge.engine.connectors[c].transaction) else None
        ),
    ),
    OcppCpSensorDescription(
        key="session_energy",
        translation_key="session_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda bridge, c: bridge.session_energy_wh(c),
        restore_fn=lambda bridge, c, value: bridge.last_session_wh.setdefault(c, value),
    ),
    OcppCpSensorDescription(
        key="energy_register",
        translation_key="energy_register",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda bridge, c: bridge.lifetime_energy_wh(c),
    ),
    OcppCpSensorDescription(
        key="session_duration",
        translation_key="session_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        value_fn=lambda bridge, c: bridge.session_duration_s(c),
    ),
    OcppCpSensorDescription(
        key="current_offered",
        translation_key="current_offered",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        value_fn=lambda bridge, c: bridge.engine.limit_amps(bridge.engine.connectors[c]),
    ),
    OcppCpSensorDescription(
        key="limit",
        translation_key="limit",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        value_fn=lambda bridge, c: round(bridge.engine.limit_in_force(c).amps, 2),
    ),
    OcppCpSensorDescription(
        key="limit_source",
        translation_key="limit_source",
        device_class=SensorDeviceClass.ENUM,
        options=LIMIT_SOURCES,
        value_fn=lambda bridge, c: bridge.engine.limit_in_force(c).source.kind,
        attributes_fn=_limit_source_attributes,
    ),
    OcppCpSensorDescription(
        key="next_limit_change",
        translation_key="next_limit_change",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda bridge, c: bridge.engine.limit_in_force(c).next_change,
    ),
    OcppCpSensorDescription(
        key="reservation",
        translation_key="reservation",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda bridge, c: (
            r.expiry if (r := bridge.engine.connectors[c].reservation) else None
        ),
        attributes_fn=_reservation_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCpConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    bridge = entry.runtime_data
    entities: list[OcppCpSensor] = [
        OcppCpSensor(bridge, description) for description in CHARGE_POINT_SENSORS
    ]
    if bridge.site_guard is not None:
        entities.extend(OcppCpSensor(bridge, description) for description in SITE_GUARD_SENSORS)
    else:  # the guard was switched off: its sensor goes rather than stay "unavailable"
        registry = er.async_get(hass)
        for description in SITE_GUARD_SENSORS:
            unique_id = f"{entry.entry_id}_{description.key}"
            if entity_id := registry.async_get_entity_id("sensor", DOMAIN, unique_id):
                registry.async_remove(entity_id)
    for connector_id in range(1, bridge.engine.settings.number_of_connectors + 1):
        entities.extend(
            OcppCpSensor(bridge, description, connector_id) for description in CONNECTOR_SENSORS
        )
    async_add_entities(entities)


class OcppCpSensor(OcppCpEntity, RestoreSensor):
    entity_description: OcppCpSensorDescription

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        restore_fn = self.entity_description.restore_fn
        if restore_fn is None:
            return
        last = await self.async_get_last_sensor_data()
        if last is not None and isinstance(last.native_value, int | float):
            restore_fn(self.bridge, self.connector_id, float(last.native_value))

    @property
    def native_value(self) -> Any:
        return self.entity_description.value_fn(self.bridge, self.connector_id)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        attributes_fn = self.entity_description.attributes_fn
        return None if attributes_fn is None else attributes_fn(self.bridge, self.connector_id)
