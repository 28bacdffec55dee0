"""The site fuse guard in Home Assistant: grid sensors in, one more engine limit out.

The arithmetic lives in ``site_guard_model`` (pure, tested with a fake clock); this adapter
reads the grid sensors when they change or report (no polling), adds the charger's own draw
from the engine's readings, and gives every connector its share with
``ChargePointEngine.set_site_guard_limits`` (source ``site_guard``; the lowest limit wins). A
timer wakes it only for what no reading announces: a reading turning stale, an increase
falling due, the reaction time of a fuse overload running out.

The guard's limit is not stored: after a restart it starts at the fallback current until a
fresh grid reading arrives (a reading from before the restart says nothing about now).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, UnitOfElectricCurrent, UnitOfPower
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    EventStateReportedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import (
    async_call_later,
    async_track_state_change_event,
    async_track_state_report_event,
)
from homeassistant.util.unit_conversion import ElectricCurrentConverter, PowerConverter

from .const import (
    DEFAULT_NOMINAL_VOLTAGE,
    DOMAIN,
    EVENT_SITE_FUSE_EXCEEDED,
    GUARD_ENABLED,
    GUARD_FALLBACK,
    GUARD_FUSE,
    GUARD_GRID_L1,
    GUARD_GRID_L2,
    GUARD_GRID_L3,
    GUARD_GRID_POWER,
    GUARD_GRID_VOLTAGE,
    GUARD_INCREASE_INTERVAL,
    GUARD_MARGIN,
    GUARD_REACTION,
    GUARD_STALE,
    OPT_SITE_GUARD,
)
from .engine import SettingsError
from .site_guard_model import GuardConfig, GuardModel, GuardResult

if TYPE_CHECKING:
    from .bridge import OcppCpBridge

_LOGGER = logging.getLogger(__name__)

PHASE_KEYS: Final = (GUARD_GRID_L1, GUARD_GRID_L2, GUARD_GRID_L3)
DEFAULT_GUARD: Final[dict[str, Any]] = {
    GUARD_ENABLED: False,
    GUARD_GRID_VOLTAGE: 230,
    GUARD_FUSE: 25,
    GUARD_MARGIN: 1,
    GUARD_REACTION: 2,
    GUARD_INCREASE_INTERVAL: 10,
    GUARD_FALLBACK: 6,
    GUARD_STALE: 30,
}
NUMBER_KEYS: Final = tuple(key for key in DEFAULT_GUARD if key != GUARD_ENABLED)
MIN_CURRENT_A: Final = 6.0  # IEC 61851: the least a charger can offer

# What the options form can get wrong (config_flow maps each to a field and a message).
PROBLEM_NO_SENSOR: Final = "no_sensor"
PROBLEM_CURRENTS_AND_POWER: Final = "currents_and_power"
PROBLEM_SAME_SENSOR: Final = "same_sensor"
PROBLEM_MARGIN: Final = "margin"
PROBLEM_FALLBACK: Final = "fallback"


def guard_from_input(user_input: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The stored guard options from the form, and what is wrong with them."""
    stored: dict[str, Any] = {GUARD_ENABLED: bool(user_input.get(GUARD_ENABLED))}
    for key in NUMBER_KEYS:
        stored[key] = float(user_input.get(key, DEFAULT_GUARD[key]))
    for key in (*PHASE_KEYS, GUARD_GRID_POWER):
        if value := user_input.get(key):
            stored[key] = str(value)
    if not stored[GUARD_ENABLED]:
        return stored, []
    problems: list[str] = []
    currents = [stored[key] for key in PHASE_KEYS if key in stored]
    if not currents and GUARD_GRID_POWER not in stored:
        problems.append(PROBLEM_NO_SENSOR)
    elif currents and GUARD_GRID_POWER in stored:
        problems.append(PROBLEM_CURRENTS_AND_POWER)
    elif len(set(currents)) != len(currents):
        problems.append(PROBLEM_SAME_SENSOR)
    if stored[GUARD_MARGIN] >= stored[GUARD_FUSE]:
        problems.append(PROBLEM_MARGIN)
    elif stored[GUARD_FALLBACK] > stored[GUARD_FUSE] - stored[GUARD_MARGIN]:
        problems.append(PROBLEM_FALLBACK)
    return stored, problems


def guard_suggestions(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """Stored guard options (or the defaults) as values for the form."""
    return {**DEFAULT_GUARD, **(stored or {})}


def guard_options(options: Mapping[str, Any]) -> dict[str, Any] | None:
    """The guard's options if it is switched on."""
    stored = options.get(OPT_SITE_GUARD)
    if isinstance(stored, Mapping) and stored.get(GUARD_ENABLED):
        return dict(stored)
    return None


def _number(state: State | None) -> float | None:
    if state is None:
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None  # unavailable, unknown, not a number
    return value if math.isfinite(value) else None


class SiteGuard:
    """The guard of one config entry: watches the grid sensors, feeds the engine."""

    def __init__(self, bridge: OcppCpBridge, options: Mapping[str, Any]) -> None:
        self.bridge = bridge
        self.hass: HomeAssistant = bridge.hass
        self.options = dict(options)
        try:
            self.phase_entities = [str(options[key]) for key in PHASE_KEYS if options.get(key)]
            self.power_entity: str | None = (
                None if self.phase_entities else str(options[GUARD_GRID_POWER])
            )
            self.voltage = float(options.get(GUARD_GRID_VOLTAGE) or DEFAULT_NOMINAL_VOLTAGE)
            self.config = GuardConfig(
                fuse_a=float(options[GUARD_FUSE]),
                margin_a=float(options[GUARD_MARGIN]),
                reaction_s=float(options[GUARD_REACTION]),
                increase_interval_s=float(options[GUARD_INCREASE_INTERVAL]),
                min_current_a=MIN_CURRENT_A,
                fallback_a=float(options[GUARD_FALLBACK]),
                stale_s=float(options[GUARD_STALE]),
                phases=len(self.phase_entities) or 1,
            )
        except (KeyError, TypeError, ValueError) as err:
            # Options the flow would refuse (edited by hand, an older release): no start.
            raise SettingsError(OPT_SITE_GUARD, f"site fuse guard: {err!r}") from err
        self.model = GuardModel(self.config, started_at=time.monotonic())
        self.last: GuardResult | None = None
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._timer: CALLBACK_TYPE | None = None
        self._shown: tuple[Any, ...] | None = None

    @property
    def entities(self) -> list[str]:
        return self.phase_entities or [self.power_entity or ""]

    @property
    def headroom(self) -> float | None:
        """What the charger may draw by the latest readings (A per phase), None in fallback."""
        if self.last is None or self.last.available_a is None:
            return None
        return round(self.last.available_a, 1)

    def prime(self) -> None:
        """Before the engine starts: the fallback current shared as if every connector had a
        transaction (a restored one may resume before ``start``)."""
        engine = self.bridge.engine
        connectors = sorted(cid for cid in engine.connectors if cid > 0)
        result = self.model.evaluate(time.monotonic(), connectors)
        for cid, amps in result.limits.items():
            engine.profiles.set_guard(cid, amps)

    @callback
    def start(self) -> None:
        """Start at the fallback current; readings from now on decide."""
        self._unsubscribe = [
            async_track_state_change_event(self.hass, self.entities, self._on_change),
            async_track_state_report_event(self.hass, self.entities, self._on_report),
        ]
        self.evaluate()

    @callback
    def stop(self) -> None:
        """Stop listening (switching the guard off reloads the entry: a new engine)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self._cancel_timer()

    @callback
    def _on_change(self, event: Event[EventStateChangedData]) -> None:
        self._read(event.data["entity_id"], event.data["new_state"])

    @callback
    def _on_report(self, event: Event[EventStateReportedData]) -> None:
        self._read(event.data["entity_id"], event.data["new_state"])

    @callback
    def _read(self, entity_id: str, state: State | None) -> None:
        now = time.monotonic()
        if entity_id in self.phase_entities:
            value = _number(state)
            if value is not None and state is not None:
                value = self._convert(
                    state, value, ElectricCurrentConverter, UnitOfElectricCurrent.AMPERE
                )
            self.model.set_phase(self.phase_entities.index(entity_id), value, now)
        elif entity_id == self.power_entity:
            value = _number(state)
            if value is not None and state is not None:
                watts = self._convert(state, value, PowerConverter, UnitOfPower.WATT)
                value = None if watts is None else watts / self.voltage
            self.model.set_phase(0, value, now)
        self.evaluate()

    @staticmethod
    def _convert(state: State, value: float, converter: Any, target: str) -> float | None:
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        if not unit or unit == target:
            return value
        if unit not in converter.VALID_UNITS:
            _LOGGER.warning("%s: unit %s cannot be used by the site guard", state.entity_id, unit)
            return None
        return float(converter.convert(value, unit, target))

    def own_draw(self) -> tuple[list[float], int]:
        """The charger's draw per measured grid phase (A), and what one amp of limit costs."""
        engine = self.bridge.engine
        phases = engine.settings.phases
        if self.power_entity is not None:
            watts = sum(
                engine.readings[cid].get("Power.Active.Import") or 0.0
                for cid in engine.connectors
                if cid > 0
            )
            return [watts / self.voltage], phases
        own = [0.0] * len(self.phase_entities)
        for cid in engine.connectors:
            if cid == 0:
                continue
            readings = engine.readings[cid]
            power = readings.get("Power.Active.Import")
            for p in range(len(own)):
                amps = readings.get("Current.Import", f"L{p + 1}")
                if amps is None and p < phases:
                    amps = readings.get("Current.Import")
                if amps is None and power is not None and p < phases:
                    amps = power / (engine.settings.nominal_voltage * phases)
                own[p] += amps or 0.0  # unknown counts as 0: the house looks bigger (safe)
        return own, 1

    @callback
    def _on_timer(self, _now: Any) -> None:
        self._timer = None
        self.evaluate()

    @callback
    def evaluate(self) -> None:
        """Decide the limits now and hand them to the engine."""
        engine = self.bridge.engine
        connectors = sorted(cid for cid in engine.connectors if cid > 0)
        active = [cid for cid in connectors if engine.connectors[cid].transaction is not None]
        minimums = {
            cid: low
            for cid in connectors
            if (low := engine.connectors[cid].hardware_min_amps) is not None
        }
        own, factor = self.own_draw()
        self.model.set_own(own, factor)
        now = time.monotonic()
        result = self.model.evaluate(
            now, active, [cid for cid in connectors if cid not in active], minimums
        )
        self.last = result
        engine.set_site_guard_limits(dict(result.limits))
        if result.exceeded is not None:
            self._report(result)
        self._cancel_timer()
        if result.next_check is not None:
            self._timer = async_call_later(
                self.hass, max(0.0, result.next_check - now), self._on_timer
            )
        shown = (self.headroom, result.budget_a, result.mode)
        if shown != self._shown:
            self._shown = shown
            self.bridge.notify_entities()

    def diagnostics(self) -> dict[str, Any]:
        last = self.last
        return {
            "options": self.options,
            "mode": self.model.mode,
            "budget_a": self.model.budget,
            "headroom_a": self.headroom,
            "limits": {str(cid): amps for cid, amps in last.limits.items()} if last else {},
            "limit_changes": self.model.changes,
        }

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None

    def _report(self, result: GuardResult) -> None:
        exceeded = result.exceeded
        assert exceeded is not None
        bridge = self.bridge
        _LOGGER.warning(
            "%s: grid current %.1f A on L%d stayed above the %.0f A fuse for %.1f s",
            bridge.charge_point_id,
            exceeded.peak_a,
            exceeded.phase,
            exceeded.fuse_a,
            exceeded.seconds,
        )
        self.hass.bus.async_fire(
            EVENT_SITE_FUSE_EXCEEDED,
            {
                "entry_id": bridge.entry.entry_id,
                "charge_point_id": bridge.charge_point_id,
                "phase": exceeded.phase,
                "peak_a": exceeded.peak_a,
                "fuse_a": exceeded.fuse_a,
                "seconds": exceeded.seconds,
                "limits": {str(cid): amps for cid, amps in result.limits.items()},
            },
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"site_fuse_exceeded_{bridge.entry.entry_id}",
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="site_fuse_exceeded",
            translation_placeholders={
                "charge_point_id": bridge.charge_point_id,
                "phase": f"L{exceeded.phase}",
                "peak": f"{exceeded.peak_a:.1f}",
                "fuse": f"{exceeded.fuse_a:.0f}",
                "seconds": f"{exceeded.seconds:.1f}",
            },
        )
