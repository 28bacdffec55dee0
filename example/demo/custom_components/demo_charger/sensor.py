"""The charger's meters and the car's battery."""

from __future__ import annotations

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
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


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DemoChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    car = entry.runtime_data
    async_add_entities(
        [PowerSensor(car), CurrentSensor(car), VoltageSensor(car), EnergySensor(car), Battery(car)]
    )


class PowerSensor(DemoEntity, SensorEntity):
    _attr_device_class = SensorDeviceClass.POWER
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfPower.WATT

    def __init__(self, car: DemoCar) -> None:
        super().__init__(car, CHARGER_DEVICE, "power", "Power")

    @property
    def native_value(self) -> float:
        return self.car.power


class CurrentSensor(DemoEntity, SensorEntity):
    _attr_device_class = SensorDeviceClass.CURRENT
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfElectricCurrent.AMPERE

    def __init__(self, car: DemoCar) -> None:
        super().__init__(car, CHARGER_DEVICE, "current", "Current")

    @property
    def native_value(self) -> float:
        return self.car.current


class VoltageSensor(DemoEntity, SensorEntity):
    _attr_device_class = SensorDeviceClass.VOLTAGE
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfElectricPotential.VOLT

    def __init__(self, car: DemoCar) -> None:
        super().__init__(car, CHARGER_DEVICE, "voltage", "Voltage")

    @property
    def native_value(self) -> float:
        return VOLTAGE


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
