"""DEMO_GRID_METER=1: the demo also has a grid meter, for the site fuse guard.

A "Demo grid meter" device with the grid current of each phase: a steady house load (7, 5 and
6 A) plus the demo car's draw on L1, the phase a single-phase charger is on. It reports every
second with the car model, as a real meter would, so the guard never sees it stale. The browser
test (tests/browser/test_site_guard_browser.py) picks these sensors in the guard's options step.
"""

from __future__ import annotations

from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.helpers.device_registry import DeviceInfo

from . import DOMAIN, DemoCar
from .entity import DemoEntity

GRID_DEVICE = DeviceInfo(
    identifiers={(DOMAIN, "grid_meter")},
    name="Demo grid meter",
    manufacturer="ocpp_cp demo",
    model="Simulated three-phase grid meter",
)
HOUSE_LOAD_A = (7.0, 5.0, 6.0)  # L1, L2, L3 without the charger


class GridCurrent(DemoEntity, SensorEntity):
    """The current through the main fuse on one phase: the house and, on L1, the car."""

    _attr_device_class = SensorDeviceClass.CURRENT
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfElectricCurrent.AMPERE

    def __init__(self, car: DemoCar, phase: int) -> None:
        super().__init__(car, GRID_DEVICE, f"grid_current_l{phase}", f"Current L{phase}")
        self.phase = phase

    @property
    def native_value(self) -> float:
        own = self.car.current if self.phase == 1 else 0.0
        return round(HOUSE_LOAD_A[self.phase - 1] + own, 1)


def grid_meter_sensors(car: DemoCar) -> list[SensorEntity]:
    return [GridCurrent(car, phase) for phase in (1, 2, 3)]
