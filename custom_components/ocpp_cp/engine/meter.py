"""Meter readings as the charger reports them, turned into OCPP sampledValue entries."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ocpp.v16.enums import Location, Measurand, UnitOfMeasure

# Canonical unit per measurand: readings are handed to the engine already in these units.
# Frequency, Power.Factor and RPM have no unit in 1.6's UnitOfMeasure (there is no Hertz).
UNITS: dict[str, str | None] = {
    Measurand.current_export: UnitOfMeasure.a,
    Measurand.current_import: UnitOfMeasure.a,
    Measurand.current_offered: UnitOfMeasure.a,
    Measurand.energy_active_export_register: UnitOfMeasure.wh,
    Measurand.energy_active_import_register: UnitOfMeasure.wh,
    Measurand.energy_reactive_export_register: UnitOfMeasure.varh,
    Measurand.energy_reactive_import_register: UnitOfMeasure.varh,
    Measurand.energy_active_export_interval: UnitOfMeasure.wh,
    Measurand.energy_active_import_interval: UnitOfMeasure.wh,
    Measurand.energy_reactive_export_interval: UnitOfMeasure.varh,
    Measurand.energy_reactive_import_interval: UnitOfMeasure.varh,
    Measurand.frequency: None,
    Measurand.power_active_export: UnitOfMeasure.w,
    Measurand.power_active_import: UnitOfMeasure.w,
    Measurand.power_factor: None,
    Measurand.power_offered: UnitOfMeasure.w,
    Measurand.power_reactive_export: UnitOfMeasure.var,
    Measurand.power_reactive_import: UnitOfMeasure.var,
    Measurand.rpm: None,
    Measurand.soc: UnitOfMeasure.percent,
    Measurand.temperature: UnitOfMeasure.celsius,
    Measurand.voltage: UnitOfMeasure.v,
}

LOCATIONS: dict[str, str] = {
    Measurand.soc: Location.ev,
    Measurand.temperature: Location.body,
}

PHASES_PER_MEASURAND: dict[str, tuple[str, ...]] = {
    Measurand.voltage: ("L1-N", "L2-N", "L3-N"),
}
DEFAULT_PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class Reading:
    value: float
    measured_at: float  # time.time()


def format_value(value: float) -> str:
    """Up to three decimals, no exponent, no trailing zeros: "230", "7.4", "0.125"."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class MeterReadings:
    """Latest reading per (measurand, phase) of one connector."""

    def __init__(self, stale_after: float | None = None) -> None:
        self._readings: dict[tuple[str, str | None], Reading] = {}
        self._stale_after = stale_after

    def set(self, measurand: str, value: float | None, phase: str | None = None) -> None:
        key = (measurand, phase)
        if value is None or not math.isfinite(value):
            self._readings.pop(key, None)
            return
        self._readings[key] = Reading(float(value), time.time())

    def get(self, measurand: str, phase: str | None = None) -> float | None:
        reading = self._readings.get((measurand, phase))
        if reading is None or self._is_stale(reading):
            return None
        return reading.value

    def _is_stale(self, reading: Reading) -> bool:
        return (
            self._stale_after is not None and time.time() - reading.measured_at > self._stale_after
        )

    def rows(self, measurand: str) -> list[tuple[str | None, float]]:
        """(phase, value) rows for a measurand: the total if there is one, then each phase's."""
        rows: list[tuple[str | None, float]] = []
        for phase in (None, *PHASES_PER_MEASURAND.get(measurand, DEFAULT_PHASES)):
            reading = self._readings.get((measurand, phase))  # the per-message hot path
            if reading is not None and not self._is_stale(reading):
                rows.append((phase, reading.value))
        return rows

    def energy_wh(self) -> float | None:
        return self.get(Measurand.energy_active_import_register)


def sampled_values(
    readings: MeterReadings,
    measurands: Iterable[str],
    context: str,
    offered: dict[str, float],
) -> list[dict[str, Any]]:
    """sampledValue entries for the measurands that have a fresh reading; the rest are omitted."""
    values: list[dict[str, Any]] = []
    for measurand in measurands:
        if measurand in offered:
            rows: list[tuple[str | None, float]] = [(None, offered[measurand])]
        else:
            rows = readings.rows(measurand)
        for phase, value in rows:
            entry: dict[str, Any] = {
                "value": format_value(value),
                "context": context,
                "format": "Raw",
                "measurand": measurand,
                "location": LOCATIONS.get(measurand, Location.outlet),
            }
            if phase is not None:
                entry["phase"] = phase
            unit = UNITS.get(measurand)
            if unit is not None:
                entry["unit"] = unit
            values.append(entry)
    return values
