"""The charger's meters and the car's battery."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import CAR_DEVICE, CHARGER_DEVICE, VOLTAGE, DemoCar, DemoChargerConfigEntry
from .entity import DemoEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class MeterDescription(SensorEntityDescription):
    value_fn: Callable[[DemoCar], float]


METERS: tuple[MeterDescription, ...] = (
    MeterDescription(
        key="power",
        name="Power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=lambda car: car.power,
    ),
    MeterDescription(
        key="current",
        name="Current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        value_fn=lambda car: car.current,
    ),
    MeterDescription(
        key="voltage",
        name="Voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        value_fn=lambda car: VOLTAGE,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DemoChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    car = entry.runtime_data
    meters: list[SensorEntity] = [MeterSensor(car, description) for description in METERS]
    if os.environ.get("DEMO_GRID_METER") == "1":
        from .grid_meter import grid_meter_sensors

        meters += grid_meter_sensors(car)
    async_add_entities([*meters, EnergySensor(car), Battery(car)])


class MeterSensor(DemoEntity, SensorEntity):
    entity_description: MeterDescription

    def __init__(self, car: DemoCar, description: MeterDescription) -> None:
        super().__init__(car, CHARGER_DEVICE, description.key, str(description.name))
        self.entity_description = description

    @property
    def native_value(self) -> float:
        return self.entity_description.value_fn(self.car)


class _Restored(DemoEntity, RestoreSensor):
    attribute = ""

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        last = await self.async_get_last_sensor_data()
        if last is not None and isinstance(last.native_value, int | float):
            setattr(self.car, self.attribute, float(last.native_value))
            self.car.notify()

    @property
    def native_value(self) -> float:
        return float(getattr(self.car, self.attribute))


class EnergySensor(_Restored):
    """The charger's energy register (kWh); it survives restarts and never goes backwards."""

    attribute = "energy_kwh"
    _attr_device_class = SensorDeviceClass.ENERGY
    _attr_state_class = SensorStateClass.TOTAL_INCREASING
    _attr_native_unit_of_measurement = UnitOfEnergy.KILO_WATT_HOUR
    _attr_suggested_display_precision = 3

    def __init__(self, car: DemoCar) -> None:
        super().__init__(car, CHARGER_DEVICE, "energy", "Energy")


class Battery(_Restored):
    """The car's state of charge; at 100 % the car stops drawing current."""

    attribute = "soc"
    _attr_device_class = SensorDeviceClass.BATTERY
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = PERCENTAGE
    _attr_suggested_display_precision = 1

    def __init__(self, car: DemoCar) -> None:
        super().__init__(car, CAR_DEVICE, "battery", "Battery")
