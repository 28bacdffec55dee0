"""OCPP 1.6 smart charging: the limit that installed profiles and local schedules put in force.

Pure and synchronous (no I/O, no asyncio, no Home Assistant). ``LimitCalculator`` is a
read-only view of the profile store (``smart_charging.ChargingProfiles``) that answers
``limit_at``, ``schedule`` and ``composite`` with one sweep over every profile's breakpoints
(when ChargePointMax is shared: one per connector drawing, then the split at every breakpoint).

Semantics (OCPP 1.6 section 3.13, with the choices the specification leaves open made here):

* All limits are amps per phase. A period in W is converted with ``Electrical.to_amps`` over
  the phases the charger is wired for: it cannot switch phases, so a smaller numberPhases would
  let it draw more than the power allowed. Local W limits likewise. Limits are never negative;
  0 is a valid limit and means pause.
* The own limit of connector c > 0 at instant t = min(Tx(t) if a TxProfile gives a limit at t,
  else TxDefault(t); local(c)(t); hardware max). TxDefaultProfiles on connector 0 and on
  connector c are one stack: the highest stack level giving a limit at t wins across both; at
  the same level the one on connector c wins.
* ChargePointMax limits the charge point as a whole (section 3.13.1: "shared by all
  connectors"). Alone (no ``shared_with``) a connector's limit is min(ChargePointMax, own).
  Shared (``shared_with`` names the other connectors drawing; the one asked about counts as
  drawing too), at each instant: the connectors whose own limit is above 0 and at least their
  hardware minimum take part; in connector-id order each is admitted while the minimums of the
  admitted fit into ChargePointMax; the admitted share it equally, except that one whose own
  limit is below the equal share keeps its own limit and leaves the rest to the others (water
  filling), and none gets less than its minimum. One not admitted gets what is left, less than
  its minimum (so it pauses). One not taking part gets min(ChargePointMax, own). A share is cut
  down to whole mA, so the shares never add up to more than ChargePointMax. Connector 0:
  min(ChargePointMax, local(0)(t), hardware max), the total for the charge point.
* A purpose gives a limit at t from the highest stack level among its profiles that is valid
  at t (validFrom <= t < validTo) and has a period in force at t. Where the top level has a gap
  (before its start, after its duration, outside its validity) the next level down fills it.
* The site fuse guard (``guard``: connector -> amps, set by the HA layer from a grid meter) is
  one more own limit of its connector, constant in time: min(..., guard, hardware max).
* The reported source is the one that decided the minimum; ties go to, in order:
  charge_point_max, tx_profile, tx_default_profile, local, site_guard, hardware.
* TxProfiles only count while a transaction is given and, when both ids are known, only for
  that transaction's id.
* Absolute profiles run from startSchedule (the receive time when it was absent). Relative
  profiles run from the transaction's start; with no transaction they start at the query
  instant (``start`` for ``schedule`` / ``composite``), so their first period applies now.
  ``duration`` ends the schedule: no limit from that profile after start + duration.
* Recurring Daily / Weekly profiles restart every day / week at the wall-clock time of day (and
  weekday) of startSchedule in ``ChargingProfiles.tz``: across a DST change a 22:00 profile
  stays at 22:00 local time, so that cycle lasts 23 h or 25 h. Period offsets are elapsed
  seconds from each occurrence, cut at the next occurrence; ``duration`` ends each occurrence
  early. No occurrence exists before startSchedule. A wall time that does not exist on a
  spring-forward day is read with the offset before the change (02:30 becomes 03:30 summer time).
* GetCompositeSchedule: ``startSchedule`` is the requested start cut to whole seconds; the
  window is at most ``COMPOSITE_MAX_SECONDS`` (2 days) and includes its last instant (a change
  exactly at startSchedule + duration is a period of its own). Each change is reported at the
  whole second in which it happens (if several fall into one second, the last wins); W = amps x
  voltage x phases used; values rounded to 0.1; every period has numberPhases: the profile
  period's, else the phases the charger is wired for (3 on a three-phase charger, libocpp's
  default; a single-phase charger's W are computed for one phase and say so); adjacent periods
  with the same value and numberPhases are merged; at most ``max_periods`` periods, and then
  ``duration`` is the span they cover.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from operator import itemgetter
from typing import Any, Final

from .charging_profile import (
    _MICROSECOND,
    KIND_RECURRING,
    KIND_RELATIVE,
    PURPOSE_CHARGE_POINT_MAX,
    PURPOSE_TX_DEFAULT,
    RECURRENCY_WEEKLY,
    UNIT_AMPS,
    UNIT_WATTS,
    ChargingProfile,
    LocalPeriod,
    SharedConnector,
    TransactionContext,
    _from_us,
    _to_us,
    aware,
    format_date_time,
)

SOURCE_CHARGE_POINT_MAX: Final = "charge_point_max"
SOURCE_TX_PROFILE: Final = "tx_profile"
SOURCE_TX_DEFAULT_PROFILE: Final = "tx_default_profile"
SOURCE_LOCAL: Final = "local"
SOURCE_SITE_GUARD: Final = "site_guard"
SOURCE_HARDWARE: Final = "hardware"

NEXT_CHANGE_HORIZON: Final = timedelta(days=8)
# GetCompositeSchedule computes at most this much of the requested duration.
COMPOSITE_MAX_SECONDS: Final = 2 * 86_400

_US_PER_S: Final = 1_000_000
_BEFORE_ALL: Final = -(1 << 62)
_AFTER_ALL: Final = 1 << 62


# --------------------------------------------------------------------------------------------
# Electrical conversion and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Electrical:
    """How to turn watts into amps per phase for this charger."""

    voltage: float = 230.0  # phase-to-neutral volts
    phases: int = 1  # phases the charger is wired for

    def __post_init__(self) -> None:
        if not (math.isfinite(self.voltage) and self.voltage > 0):
            raise ValueError("voltage must be a positive number")
        if not 1 <= self.phases <= 3:
            raise ValueError("phases must be 1, 2 or 3")

    def phases_used(self, number_phases: int | None) -> int:
        """The phases a watt limit is spread over: the ones the charger is wired for.

        OCPP reads a missing numberPhases as 3, capped by the wiring. A smaller numberPhases
        would ask a three-phase charger to switch to one phase, which it cannot do
        (ConnectorSwitch3to1PhaseSupported is false): dividing by it would let the car draw
        three times the power allowed, so the wiring decides and the limit always holds.
        """
        del number_phases
        return self.phases

    def to_amps(self, limit: float, unit: str, number_phases: int | None) -> float:
        if unit == UNIT_AMPS:
            return limit
        return limit / (self.voltage * self.phases_used(number_phases))

    def to_watts(self, amps: float, number_phases: int | None) -> float:
        return amps * self.voltage * self.phases_used(number_phases)


@dataclass(frozen=True, slots=True)
class LimitSource:
    """What decided a limit."""

    kind: str  # one of the SOURCE_* names above
    profile_id: int | None = None
    stack_level: int | None = None
    connector_id: int | None = None  # of the profile (TxDefault on 0 vs on the connector)


@dataclass(frozen=True, slots=True)
class LimitSegment:
    """A stretch of time with one limit in force."""

    start: datetime
    end: datetime
    amps: float  # the limit in force, per phase, >= 0
    number_phases: int | None  # from the deciding profile period, else None
    source: LimitSource


@dataclass(frozen=True, slots=True)
class LimitInForce:
    """The limit now, and when it next changes (so a timer can wake up then)."""

    amps: float
    number_phases: int | None
    source: LimitSource
    next_change: datetime | None  # next change of amps or source within 8 days, else None


_LOCAL_SOURCE: Final = LimitSource(SOURCE_LOCAL)
_HARDWARE_SOURCE: Final = LimitSource(SOURCE_HARDWARE)
_SITE_GUARD_SOURCE: Final = LimitSource(SOURCE_SITE_GUARD)

# Layers of the sweep; the tie-break order of sources is the order of these numbers.
_LAYER_CHARGE_POINT_MAX: Final = 0
_LAYER_TX: Final = 1
_LAYER_TX_DEFAULT_CONNECTOR: Final = 2
_LAYER_TX_DEFAULT_ALL: Final = 3
_LAYER_LOCAL: Final = 4
_LAYER_COUNT: Final = 5
_NO_LAYER: Final = -1
_PRIORITY_CHARGE_POINT_MAX: Final = 0
_PRIORITY_TX_PROFILE: Final = 1
_PRIORITY_TX_DEFAULT: Final = 2
_PRIORITY_LOCAL: Final = 3
_PRIORITY_SITE_GUARD: Final = 4
_PRIORITY_HARDWARE: Final = 5
# What a sweep includes: everything, all but ChargePointMax (the own limit), or only it.
_PART_ALL: Final = 0
_PART_OWN: Final = 1
_PART_POOL: Final = 2
_MILLIAMP: Final = 1000

# (amps, numberPhases, source, tie-break priority)
type _Limit = tuple[float, int | None, LimitSource, int]
# (instant, layer, stack level, limit or None = that stack level stops giving a limit)
type _Event = tuple[int, int, int, _Limit | None]
# (start, end, amps, numberPhases, source)
type _Segment = tuple[int, int, float, int | None, LimitSource]


def _local_amps(period: LocalPeriod, electrical: Electrical) -> float | None:
    limits: list[float] = []
    if period.amps is not None:
        limits.append(period.amps)
    if period.watts is not None:
        limits.append(electrical.to_amps(period.watts, UNIT_WATTS, None))
    return min(limits) if limits else None


def _checked_hardware(hardware_max_amps: float) -> float:
    if not (math.isfinite(hardware_max_amps) and hardware_max_amps >= 0):
        raise ValueError("hardware_max_amps must be a finite number >= 0")
    return float(hardware_max_amps)


def share_amps(pool: float, demands: Sequence[tuple[float, float]]) -> list[float]:
    """Split ``pool`` among connectors given in connector-id order as (own limit, minimum).

    Each own limit is above 0 and at least its minimum. Connectors are admitted in order while
    their minimums fit; the admitted share the pool equally, each capped by its own limit and
    raised to its minimum (water filling); the others, in order, get what is left, less than
    their minimum (so they pause).
    """
    admitted: list[int] = []
    used = 0.0
    for index, (_, low) in enumerate(demands):
        if used + low <= pool + 1e-9:
            admitted.append(index)
            used += low
    shares = [0.0] * len(demands)
    level = math.inf
    if sum(demands[i][0] for i in admitted) > pool:
        level = _water_level(pool, [demands[i] for i in admitted])
        if len(admitted) > 1:  # cut to whole mA: rounding never adds up to more than the pool
            level = math.floor(level * _MILLIAMP + 1e-6) / _MILLIAMP
    for i in admitted:
        own, low = demands[i]
        shares[i] = min(own, max(low, level))
    left = max(0.0, pool - sum(shares))
    for i, (own, _) in enumerate(demands):
        if i not in admitted:
            shares[i] = min(own, left)
            left -= shares[i]
    return shares


def _water_level(pool: float, demands: Sequence[tuple[float, float]]) -> float:
    """The level L with sum(min(own, max(low, L))) == pool; sum(low) <= pool < sum(own)."""
    if len(demands) == 1:
        return pool

    def filled(level: float) -> float:
        return sum(min(own, max(low, level)) for own, low in demands)

    points = sorted({value for demand in demands for value in demand})
    previous, previous_fill = points[0], filled(points[0])
    for point in points[1:]:
        if previous_fill >= pool:
            break
        fill = filled(point)
        if fill >= pool:  # L lies here, where the connectors still below their own rise
            rising = sum(1 for own, low in demands if low <= previous < own)
            return previous + (pool - previous_fill) / rising
        previous, previous_fill = point, fill
    return previous


# --------------------------------------------------------------------------------------------
# The calculator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LimitCalculator:
    """The limits a profile store gives; built per query from the store's current state."""

    profiles: Sequence[ChargingProfile]  # installed profiles, oldest first
    local: Mapping[int, Sequence[LocalPeriod]]  # connector -> local schedule, by start
    electrical: Electrical
    tz: tzinfo  # wall-clock time zone of Recurring profiles
    guard: Mapping[int, float] = field(default_factory=dict)  # site fuse guard, A per connector

    def limit_at(
        self,
        connector_id: int,
        at: datetime,
        *,
        transaction: TransactionContext | None,
        hardware_max_amps: float,
        hardware_min_amps: float | None = None,
        shared_with: Mapping[int, SharedConnector] | None = None,
    ) -> LimitInForce:
        """The limit in force at ``at`` and the next change of amps or source."""
        me = SharedConnector(transaction, _checked_hardware(hardware_max_amps), hardware_min_amps)
        begin = _to_us(at)
        horizon = NEXT_CHANGE_HORIZON // _MICROSECOND
        next_change: datetime | None = None
        # Most limits change within a day; look further only when they do not.
        for look_ahead in (horizon // 8, horizon):
            segments = self._segments(
                connector_id, begin, begin + look_ahead, me, shared_with, stop_at_change=True
            )
            _, _, amps, phases, source = segments[0]
            changes = (s[0] for s in segments[1:] if s[2] != amps or s[4] != source)
            change = next(changes, None)
            if change is not None:
                next_change = _from_us(change)
                break
        return LimitInForce(amps, phases, source, next_change)

    def schedule(
        self,
        connector_id: int,
        start: datetime,
        duration: int,
        *,
        transaction: TransactionContext | None,
        hardware_max_amps: float,
        hardware_min_amps: float | None = None,
        shared_with: Mapping[int, SharedConnector] | None = None,
    ) -> list[LimitSegment]:
        """Contiguous segments covering [start, start + duration) seconds."""
        me = SharedConnector(transaction, _checked_hardware(hardware_max_amps), hardware_min_amps)
        begin = _to_us(start)
        segments = self._segments(
            connector_id, begin, begin + duration * _US_PER_S, me, shared_with
        )
        return [
            LimitSegment(_from_us(s), _from_us(e), amps, phases, source)
            for s, e, amps, phases, source in segments
        ]

    def composite(
        self,
        connector_id: int,
        start: datetime,
        duration: int,
        unit: str | None,
        *,
        transaction: TransactionContext | None,
        hardware_max_amps: float,
        hardware_min_amps: float | None = None,
        shared_with: Mapping[int, SharedConnector] | None = None,
        max_periods: int | None = None,
    ) -> dict[str, Any]:
        """The ``chargingSchedule`` of GetCompositeSchedule.conf (bounded, see the module)."""
        me = SharedConnector(transaction, _checked_hardware(hardware_max_amps), hardware_min_amps)
        unit = unit or UNIT_AMPS
        if unit not in (UNIT_AMPS, UNIT_WATTS):
            raise ValueError(f"unknown charging rate unit {unit}")
        if duration < 0:
            raise ValueError("duration must not be negative")
        duration = min(duration, COMPOSITE_MAX_SECONDS)
        begin = _to_us(aware(start).replace(microsecond=0))
        exact_begin = _to_us(start)
        # The end instant is part of the window; a zero duration still reports the start.
        end = max(begin + duration * _US_PER_S, exact_begin) + 1
        segments = self._segments(connector_id, exact_begin, end, me, shared_with)
        electrical = self.electrical
        periods: list[dict[str, Any]] = []
        for seg_start, _, amps, phases, _ in segments:
            value = amps if unit == UNIT_AMPS else electrical.to_watts(amps, phases)
            period: dict[str, Any] = {
                "startPeriod": (seg_start - begin) // _US_PER_S,
                "limit": round(value, 1),
                "numberPhases": electrical.phases_used(None) if phases is None else phases,
            }
            if periods and periods[-1]["startPeriod"] == period["startPeriod"]:
                periods.pop()  # the earlier limit lasted less than a second
            previous = periods[-1] if periods else None
            if (
                previous is not None
                and previous["limit"] == period["limit"]
                and previous["numberPhases"] == period["numberPhases"]
            ):
                continue
            periods.append(period)
        if max_periods is not None and len(periods) > max(1, max_periods):
            duration = periods[max(1, max_periods)]["startPeriod"]
            del periods[max(1, max_periods) :]
        return {
            "duration": duration,
            "startSchedule": format_date_time(_from_us(begin)),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }

    # -- internals ---------------------------------------------------------------------------

    def _layer(
        self,
        profile: ChargingProfile,
        connector_id: int,
        transaction: TransactionContext | None,
        part: int,
    ) -> int:
        """Which layer of the sweep a profile feeds for this connector, or _NO_LAYER."""
        purpose = profile.purpose
        if purpose == PURPOSE_CHARGE_POINT_MAX:
            in_part = part != _PART_OWN and profile.connector_id == 0
            return _LAYER_CHARGE_POINT_MAX if in_part else _NO_LAYER
        if connector_id == 0 or part == _PART_POOL:
            return _NO_LAYER
        if purpose == PURPOSE_TX_DEFAULT:
            if profile.connector_id == connector_id:
                return _LAYER_TX_DEFAULT_CONNECTOR
            return _LAYER_TX_DEFAULT_ALL if profile.connector_id == 0 else _NO_LAYER
        if profile.connector_id != connector_id or transaction is None:
            return _NO_LAYER
        if (
            profile.transaction_id is not None
            and transaction.transaction_id is not None
            and profile.transaction_id != transaction.transaction_id
        ):
            return _NO_LAYER
        return _LAYER_TX

    def _segments(
        self,
        connector_id: int,
        begin: int,
        end: int,
        me: SharedConnector,
        shared_with: Mapping[int, SharedConnector] | None,
        *,
        stop_at_change: bool = False,
    ) -> list[_Segment]:
        """The connector's segments over [begin, end), alone or sharing ChargePointMax."""
        if connector_id == 0 or not shared_with or set(shared_with) == {connector_id}:
            return self._sweep(
                connector_id,
                begin,
                end,
                me.transaction,
                me.hardware_max_amps,
                stop_at_change=stop_at_change,
            )
        return self._shared_sweep(connector_id, begin, end, {**shared_with, connector_id: me})

    def _shared_sweep(
        self, connector_id: int, begin: int, end: int, drawing: Mapping[int, SharedConnector]
    ) -> list[_Segment]:
        """One connector's segments when ``drawing`` share ChargePointMax (see the module)."""
        if end <= begin:
            return []
        order = sorted(drawing)
        target = order.index(connector_id)
        lows = [drawing[cid].hardware_min_amps or 0.0 for cid in order]
        lists = [self._sweep(0, begin, end, None, math.inf, part=_PART_POOL)]
        for cid in order:
            other = drawing[cid]
            hardware = _checked_hardware(other.hardware_max_amps)
            lists.append(self._sweep(cid, begin, end, other.transaction, hardware, part=_PART_OWN))
        cursors = [0] * len(lists)
        segments: list[_Segment] = []
        for instant in sorted({segment[0] for segments_ in lists for segment in segments_}):
            for k, list_ in enumerate(lists):
                while cursors[k] + 1 < len(list_) and list_[cursors[k] + 1][0] <= instant:
                    cursors[k] += 1
            _, _, pool, pool_phases, pool_source = lists[0][cursors[0]]
            owns = [lists[k + 1][cursors[k + 1]] for k in range(len(order))]
            _, _, own, phases, source = owns[target]
            if pool < math.inf:
                taking = [k for k, o in enumerate(owns) if o[2] > 0 and o[2] >= lows[k]]
                amps = min(own, pool)
                if target in taking:
                    shares = share_amps(pool, [(owns[k][2], lows[k]) for k in taking])
                    amps = shares[taking.index(target)]
                if amps < own or amps == pool:  # ChargePointMax decided (it wins a tie)
                    own, phases, source = amps, pool_phases, pool_source
            if segments:
                last_start, _, last_amps, last_phases, last_source = segments[-1]
                if (last_amps, last_phases, last_source) == (own, phases, source):
                    continue
                segments[-1] = (last_start, instant, last_amps, last_phases, last_source)
            segments.append((instant, end, own, phases, source))
        return segments

    def _sweep(
        self,
        connector_id: int,
        begin: int,
        end: int,
        transaction: TransactionContext | None,
        hardware: float,
        *,
        stop_at_change: bool = False,
        part: int = _PART_ALL,
    ) -> list[_Segment]:
        """Segments over [begin, end): breakpoints of every profile once, then one sweep.

        With ``stop_at_change`` it returns as soon as a second segment with other amps or
        source has begun (its end is then not meaningful). ``part`` leaves out ChargePointMax
        (the own limit) or everything else (the limit to share, infinite where there is none).
        """
        if end <= begin:
            return []
        relative_start = begin if transaction is None else _to_us(transaction.started_at)
        events: list[_Event] = [(begin, _NO_LAYER, 0, None)]
        for profile in self.profiles:
            layer = self._layer(profile, connector_id, transaction, part)
            if layer != _NO_LAYER:
                self._profile_events(profile, layer, begin, end, relative_start, events)
        if part != _PART_POOL:
            self._local_events(connector_id, begin, end, events)
        events.sort(key=itemgetter(0))

        active: list[dict[int, _Limit]] = [{} for _ in range(_LAYER_COUNT)]
        cp_max, tx, tx_default_c, tx_default_0, local = active
        hardware_limit: _Limit = (hardware, None, _HARDWARE_SOURCE, _PRIORITY_HARDWARE)
        guard = self.guard.get(connector_id) if part != _PART_POOL else None
        if guard is not None and guard <= hardware:  # the guard wins a tie with the hardware
            hardware_limit = (guard, None, _SITE_GUARD_SOURCE, _PRIORITY_SITE_GUARD)
        segments: list[_Segment] = []
        index, count = 0, len(events)
        while index < count:
            instant = events[index][0]
            if instant >= end:
                break
            while index < count and events[index][0] == instant:
                _, layer, level, limit = events[index]
                index += 1
                if layer == _NO_LAYER:
                    continue
                if limit is None:
                    active[layer].pop(level, None)
                else:
                    active[layer][level] = limit
            # TxDefault on the connector and on 0 are one stack; the connector's wins a tie.
            tx_default = tx_default_0
            if tx_default_c and (not tx_default_0 or max(tx_default_c) >= max(tx_default_0)):
                tx_default = tx_default_c
            best = hardware_limit
            for layer_active in (cp_max, tx or tx_default, local):
                if layer_active:
                    candidate = layer_active[max(layer_active)]
                    if candidate[0] < best[0] or (
                        candidate[0] == best[0] and candidate[3] < best[3]
                    ):
                        best = candidate
            amps, phases, source, _ = best
            if segments:
                last_start, _, last_amps, last_phases, last_source = segments[-1]
                if last_amps == amps and last_phases == phases and last_source == source:
                    continue
                segments[-1] = (last_start, instant, last_amps, last_phases, last_source)
                if stop_at_change and (last_amps != amps or last_source != source):
                    segments.append((instant, end, amps, phases, source))
                    return segments
            segments.append((instant, end, amps, phases, source))
        return segments

    def _profile_events(
        self,
        profile: ChargingProfile,
        layer: int,
        begin: int,
        end: int,
        relative_start: int,
        events: list[_Event],
    ) -> None:
        """Append set/stop events for every period of the profile inside [begin, end)."""
        low = begin if profile.valid_from is None else max(begin, _to_us(profile.valid_from))
        high = end if profile.valid_to is None else min(end, _to_us(profile.valid_to))
        if low >= high:
            return
        periods = profile.periods
        electrical = self.electrical
        unit = profile.unit
        priority = (
            _PRIORITY_CHARGE_POINT_MAX
            if layer == _LAYER_CHARGE_POINT_MAX
            else _PRIORITY_TX_PROFILE
            if layer == _LAYER_TX
            else _PRIORITY_TX_DEFAULT
        )
        kind = (
            SOURCE_CHARGE_POINT_MAX
            if layer == _LAYER_CHARGE_POINT_MAX
            else SOURCE_TX_PROFILE
            if layer == _LAYER_TX
            else SOURCE_TX_DEFAULT_PROFILE
        )
        source = LimitSource(kind, profile.profile_id, profile.stack_level, profile.connector_id)
        limits: list[_Limit] = [
            (
                max(0.0, electrical.to_amps(p.limit, unit, p.number_phases)),
                p.number_phases,
                source,
                priority,
            )
            for p in periods
        ]
        offsets = [p.start_period * _US_PER_S for p in periods]
        level = profile.stack_level
        duration = None if profile.duration is None else profile.duration * _US_PER_S
        last_end = _BEFORE_ALL

        def add(schedule_start: int, schedule_end: int) -> None:
            nonlocal last_end
            if duration is not None:
                schedule_end = min(schedule_end, schedule_start + duration)
            schedule_end = min(schedule_end, high)
            count = len(offsets)
            for i in range(count):
                piece_start = schedule_start + offsets[i]
                if piece_start >= schedule_end:
                    break
                piece_end = schedule_start + offsets[i + 1] if i + 1 < count else schedule_end
                piece_end = min(piece_end, schedule_end)
                piece_start = max(piece_start, low)
                if piece_start >= piece_end:
                    continue
                if last_end not in (piece_start, _BEFORE_ALL):
                    events.append((last_end, layer, level, None))
                events.append((piece_start, layer, level, limits[i]))
                last_end = piece_end

        if profile.kind == KIND_RECURRING and profile.start_schedule is not None:
            days = 7 if profile.recurrency == RECURRENCY_WEEKLY else 1
            occurrences = self._occurrences(profile.start_schedule, days, low, high)
            for occurrence, next_occurrence in occurrences:
                add(occurrence, next_occurrence)
        elif profile.kind == KIND_RELATIVE:
            add(relative_start, _AFTER_ALL)
        elif profile.start_schedule is not None:
            add(_to_us(profile.start_schedule), _AFTER_ALL)
        if last_end != _BEFORE_ALL and last_end < end:
            events.append((last_end, layer, level, None))

    def _occurrences(
        self, start_schedule: datetime, days: int, low: int, high: int
    ) -> Iterator[tuple[int, int]]:
        """(start, next start) of each recurrence overlapping [low, high), at local wall time."""
        first = _to_us(start_schedule)
        tz = self.tz
        local_start = aware(start_schedule).astimezone(tz).replace(tzinfo=None)

        def occurrence(number: int) -> int:
            if number == 0:
                return first
            wall = local_start + timedelta(days=number * days)
            return _to_us(wall.replace(tzinfo=tz))

        cycle = days * 86_400 * _US_PER_S
        # Estimate from the nominal cycle (a DST day is 1 h off), then step to the exact one.
        number = max(0, (low - first) // cycle - 1)
        start = occurrence(number)
        following = occurrence(number + 1)
        while following <= low:
            number += 1
            start, following = following, occurrence(number + 1)
        while start < high:
            yield start, following
            number += 1
            start, following = following, occurrence(number + 1)

    def _local_events(self, connector_id: int, begin: int, end: int, events: list[_Event]) -> None:
        periods = self.local.get(connector_id)
        if not periods:
            return
        starts = [_to_us(p.start) for p in periods]
        electrical = self.electrical
        for i, period in enumerate(periods):
            period_start = starts[i]
            period_end = starts[i + 1] if i + 1 < len(starts) else _AFTER_ALL
            if period_end <= begin:
                continue
            if period_start >= end:
                break
            amps = _local_amps(period, electrical)
            instant = max(period_start, begin)
            if amps is None:
                events.append((instant, _LAYER_LOCAL, 0, None))
            else:
                events.append(
                    (instant, _LAYER_LOCAL, 0, (amps, None, _LOCAL_SOURCE, _PRIORITY_LOCAL))
                )
