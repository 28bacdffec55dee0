"""OCPP 1.6 smart charging: the charging-profile store and the limit it puts in force.

Pure and synchronous (no I/O, no asyncio, no Home Assistant) so that every rule can be tested
with hand-computed schedules. The engine glue installs profiles from SetChargingProfile and
RemoteStartTransaction, persists ``ChargingProfiles.to_dict()``, and asks ``limit_at`` /
``composite`` what the charger may draw.

Semantics (OCPP 1.6 section 3.13, with the choices the specification leaves open made here):

* All limits are amps per phase. A period in W is converted with ``Electrical.to_amps`` over
  the phases the charger is wired for: it cannot switch phases, so a smaller numberPhases would
  let it draw more than the power allowed. Local W limits likewise. Limits are never negative;
  0 is a valid limit and means pause.
* Effective limit at instant t for connector c > 0 =
  min(ChargePointMax(t), Tx(t) if a TxProfile gives a limit at t, else TxDefault(c)(t) if a
  TxDefaultProfile on connector c gives one, else TxDefault(0)(t); local(c)(t);
  hardware max). For connector 0: min(ChargePointMax(t), local(0)(t), hardware max).
* A purpose gives a limit at t from the highest stack level among its profiles that is valid
  at t (validFrom <= t < validTo) and has a period in force at t. Where the top level has a gap
  (before its start, after its duration, outside its validity) the next level down fills it.
* The reported source is the one that decided the minimum; ties go to, in order:
  charge_point_max, tx_profile, tx_default_profile, local, hardware.
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
* GetCompositeSchedule: ``startSchedule`` is the requested start cut to whole seconds; each
  change is reported at the whole second in which it happens (if several fall into one second,
  the last wins); W = amps x voltage x phases used; values rounded to 0.1; adjacent periods with
  the same value and numberPhases are merged.

Times are handled internally as integer microseconds since the epoch: exact, and fast to sort.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from operator import itemgetter
from typing import Any, Final

_LOGGER = logging.getLogger(__name__)

PURPOSE_CHARGE_POINT_MAX: Final = "ChargePointMaxProfile"
PURPOSE_TX_DEFAULT: Final = "TxDefaultProfile"
PURPOSE_TX: Final = "TxProfile"
PURPOSES: Final = (PURPOSE_CHARGE_POINT_MAX, PURPOSE_TX_DEFAULT, PURPOSE_TX)

KIND_ABSOLUTE: Final = "Absolute"
KIND_RECURRING: Final = "Recurring"
KIND_RELATIVE: Final = "Relative"
KINDS: Final = (KIND_ABSOLUTE, KIND_RECURRING, KIND_RELATIVE)

RECURRENCY_DAILY: Final = "Daily"
RECURRENCY_WEEKLY: Final = "Weekly"
RECURRENCIES: Final = (RECURRENCY_DAILY, RECURRENCY_WEEKLY)

UNIT_AMPS: Final = "A"
UNIT_WATTS: Final = "W"
# ChargingScheduleAllowedChargingRateUnit names the units "Current" and "Power".
UNIT_CONFIG_NAMES: Final = {UNIT_AMPS: "Current", UNIT_WATTS: "Power"}

SOURCE_CHARGE_POINT_MAX: Final = "charge_point_max"
SOURCE_TX_PROFILE: Final = "tx_profile"
SOURCE_TX_DEFAULT_PROFILE: Final = "tx_default_profile"
SOURCE_LOCAL: Final = "local"
SOURCE_HARDWARE: Final = "hardware"

NEXT_CHANGE_HORIZON: Final = timedelta(days=8)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_US_PER_S: Final = 1_000_000
_BEFORE_ALL: Final = -(1 << 62)
_AFTER_ALL: Final = 1 << 62


class ProfileError(ValueError):
    """A profile we refuse (SetChargingProfile -> Rejected); str() says why in words."""


# --------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------

_DATE_TIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,
)


def parse_date_time(value: Any, name: str) -> datetime:
    """An RFC 3339 date-time as an aware datetime; without an offset it is read as UTC."""
    match = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ProfileError(f"{name} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if sign is not None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        # A leap second (60) cannot be held by datetime; read it as the second before.
        naive = datetime(
            int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59), micro
        )
    except ValueError:
        raise ProfileError(f"{name} is not a calendar date-time") from None
    return (naive - offset).replace(tzinfo=UTC)


def format_date_time(moment: datetime) -> str:
    """UTC with a ``Z``, as central systems expect it."""
    return aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


def aware(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC so that comparisons never fail."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _to_us(moment: datetime) -> int:
    # Subtracting from a UTC epoch uses each side's real offset (same-tzinfo subtraction would not).
    return (aware(moment) - _EPOCH) // _MICROSECOND


def _from_us(instant: int) -> datetime:
    return _EPOCH + timedelta(microseconds=instant)


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    """One ChargingSchedulePeriod."""

    start_period: int  # seconds from the schedule start
    limit: float  # in the schedule's unit (A or W)
    number_phases: int | None = None


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ProfileError(f"{name} must be a finite number")
    return number


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProfileError(f"{name} must be an integer")
    return int(value)


def _choice(value: Any, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ProfileError(f"{name} must be one of {', '.join(choices)}")
    return str(value)


def _optional_time(data: dict[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    return None if value is None else parse_date_time(value, key)


def _parse_periods(raw: Any) -> tuple[SchedulePeriod, ...]:
    if not isinstance(raw, list) or not raw:
        raise ProfileError("chargingSchedulePeriod must list at least one period")
    periods: list[SchedulePeriod] = []
    for index, item in enumerate(raw):
        name = f"chargingSchedulePeriod[{index}]"
        if not isinstance(item, dict):
            raise ProfileError(f"{name} must be an object")
        start = _integer(item.get("startPeriod"), f"{name}.startPeriod")
        limit = _number(item.get("limit"), f"{name}.limit")
        if limit < 0:
            raise ProfileError(f"{name}.limit must not be negative")
        phases_raw = item.get("numberPhases")
        phases = None if phases_raw is None else _integer(phases_raw, f"{name}.numberPhases")
        if phases is not None and not 1 <= phases <= 3:
            raise ProfileError(f"{name}.numberPhases must be 1, 2 or 3")
        if not periods and start != 0:
            raise ProfileError("the first charging schedule period must start at 0")
        if periods and start <= periods[-1].start_period:
            raise ProfileError("charging schedule periods must start in increasing order")
        periods.append(SchedulePeriod(start, limit, phases))
    return tuple(periods)


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    """One installed charging profile, with the connector it was set on."""

    connector_id: int
    profile_id: int
    stack_level: int
    purpose: str
    kind: str  # "Absolute" | "Recurring" | "Relative"
    recurrency: str | None  # "Daily" | "Weekly" | None
    valid_from: datetime | None
    valid_to: datetime | None
    transaction_id: int | None
    start_schedule: datetime | None
    duration: int | None
    unit: str  # "A" | "W"
    periods: tuple[SchedulePeriod, ...]
    min_charging_rate: float | None

    @classmethod
    def from_ocpp(
        cls, connector_id: int, data: dict[str, Any], *, received_at: datetime
    ) -> ChargingProfile:
        """Read a ``csChargingProfiles`` / ``chargingProfile`` dict; ProfileError if refused."""
        if not isinstance(data, dict):
            raise ProfileError("the charging profile must be an object")
        schedule = data.get("chargingSchedule")
        if not isinstance(schedule, dict):
            raise ProfileError("chargingSchedule is missing")
        profile_id = _integer(data.get("chargingProfileId"), "chargingProfileId")
        stack_level = _integer(data.get("stackLevel"), "stackLevel")
        if stack_level < 0:
            raise ProfileError("stackLevel must not be negative")
        purpose = _choice(data.get("chargingProfilePurpose"), PURPOSES, "chargingProfilePurpose")
        kind = _choice(data.get("chargingProfileKind"), KINDS, "chargingProfileKind")
        recurrency_raw = data.get("recurrencyKind")
        recurrency = (
            None
            if recurrency_raw is None
            else _choice(recurrency_raw, RECURRENCIES, "recurrencyKind")
        )
        transaction_raw = data.get("transactionId")
        transaction_id = (
            None if transaction_raw is None else _integer(transaction_raw, "transactionId")
        )
        valid_from = _optional_time(data, "validFrom")
        valid_to = _optional_time(data, "validTo")
        if valid_from is not None and valid_to is not None and valid_to <= valid_from:
            raise ProfileError("validTo must be later than validFrom")
        start_schedule = _optional_time(schedule, "startSchedule")
        duration_raw = schedule.get("duration")
        duration = None if duration_raw is None else _integer(duration_raw, "duration")
        if duration is not None and duration < 0:
            raise ProfileError("duration must not be negative")
        unit = _choice(
            schedule.get("chargingRateUnit"), (UNIT_AMPS, UNIT_WATTS), "chargingRateUnit"
        )
        periods = _parse_periods(schedule.get("chargingSchedulePeriod"))
        min_rate_raw = schedule.get("minChargingRate")
        min_rate = None if min_rate_raw is None else _number(min_rate_raw, "minChargingRate")
        if min_rate is not None and min_rate < 0:
            raise ProfileError("minChargingRate must not be negative")
        if kind == KIND_RECURRING:
            if recurrency is None:
                raise ProfileError("a Recurring profile needs a recurrencyKind")
            if start_schedule is None:
                raise ProfileError("a Recurring profile needs a startSchedule")
        elif kind == KIND_ABSOLUTE and start_schedule is None:
            start_schedule = aware(received_at)
        return cls(
            connector_id=connector_id,
            profile_id=profile_id,
            stack_level=stack_level,
            purpose=purpose,
            kind=kind,
            recurrency=recurrency,
            valid_from=valid_from,
            valid_to=valid_to,
            transaction_id=transaction_id,
            start_schedule=start_schedule,
            duration=duration,
            unit=unit,
            periods=periods,
            min_charging_rate=min_rate,
        )

    def to_ocpp(self) -> dict[str, Any]:
        """The camelCase wire dict (date-times in UTC with ``Z``)."""
        schedule: dict[str, Any] = {}
        if self.duration is not None:
            schedule["duration"] = self.duration
        if self.start_schedule is not None:
            schedule["startSchedule"] = format_date_time(self.start_schedule)
        schedule["chargingRateUnit"] = self.unit
        schedule["chargingSchedulePeriod"] = [
            {"startPeriod": p.start_period, "limit": p.limit}
            | ({} if p.number_phases is None else {"numberPhases": p.number_phases})
            for p in self.periods
        ]
        if self.min_charging_rate is not None:
            schedule["minChargingRate"] = self.min_charging_rate
        data: dict[str, Any] = {"chargingProfileId": self.profile_id}
        if self.transaction_id is not None:
            data["transactionId"] = self.transaction_id
        data["stackLevel"] = self.stack_level
        data["chargingProfilePurpose"] = self.purpose
        data["chargingProfileKind"] = self.kind
        if self.recurrency is not None:
            data["recurrencyKind"] = self.recurrency
        if self.valid_from is not None:
            data["validFrom"] = format_date_time(self.valid_from)
        if self.valid_to is not None:
            data["validTo"] = format_date_time(self.valid_to)
        data["chargingSchedule"] = schedule
        return data

    def to_dict(self) -> dict[str, Any]:
        """For persistence: the wire dict plus the connector it was set on."""
        return {"connector_id": self.connector_id, **self.to_ocpp()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChargingProfile:
        """Inverse of ``to_dict``; ProfileError if the stored entry is not a valid profile."""
        if not isinstance(data, dict):
            raise ProfileError("a stored profile must be an object")
        wire = dict(data)
        connector_id = _integer(wire.pop("connector_id", None), "connector_id")
        schedule = wire.get("chargingSchedule")
        if (
            wire.get("chargingProfileKind") == KIND_ABSOLUTE
            and isinstance(schedule, dict)
            and schedule.get("startSchedule") is None
        ):
            raise ProfileError("a stored Absolute profile lacks its startSchedule")
        return cls.from_ocpp(connector_id, wire, received_at=_EPOCH)


# --------------------------------------------------------------------------------------------
# Electrical conversion, configuration limits, context
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
class ProfileLimits:
    """The configuration keys that bound what SetChargingProfile may install."""

    max_stack_level: int = 8  # ChargeProfileMaxStackLevel
    max_periods: int = 24  # ChargingScheduleMaxPeriods
    max_installed: int = 16  # MaxChargingProfilesInstalled (all purposes, all connectors)
    allowed_units: tuple[str, ...] = ("Current", "Power")  # ChargingScheduleAllowedChargingRateUnit


@dataclass(frozen=True, slots=True)
class TransactionContext:
    """The running transaction of a connector, as far as profiles care."""

    transaction_id: int | None  # None while the CSMS has not answered StartTransaction yet
    started_at: datetime


@dataclass(frozen=True, slots=True)
class LocalPeriod:
    """A limit set locally by Home Assistant, in force from ``start`` until the next one."""

    start: datetime
    amps: float | None = None  # None = no current limit from this period on
    watts: float | None = None  # None = no power limit (converted with the charger's phases)

    def to_dict(self) -> dict[str, Any]:
        return {"start": format_date_time(self.start), "amps": self.amps, "watts": self.watts}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalPeriod:
        amps, watts = data.get("amps"), data.get("watts")
        return cls(
            start=parse_date_time(data.get("start"), "start"),
            amps=None if amps is None else _number(amps, "amps"),
            watts=None if watts is None else _number(watts, "watts"),
        )


@dataclass(frozen=True, slots=True)
class LimitSource:
    """What decided a limit."""

    kind: str  # "charge_point_max" | "tx_profile" | "tx_default_profile" | "local" | "hardware"
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
_PRIORITY_HARDWARE: Final = 4

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


def _checked_local(period: LocalPeriod) -> LocalPeriod:
    for name, value in (("amps", period.amps), ("watts", period.watts)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"local {name} must be a finite number >= 0")
    return replace(period, start=aware(period.start))


def _checked_hardware(hardware_max_amps: float) -> float:
    if not (math.isfinite(hardware_max_amps) and hardware_max_amps >= 0):
        raise ValueError("hardware_max_amps must be a finite number >= 0")
    return float(hardware_max_amps)


# --------------------------------------------------------------------------------------------
# The store and calculator
# --------------------------------------------------------------------------------------------


class ChargingProfiles:
    """Installed profiles and local schedules of one charge point, and the limits they give."""

    def __init__(
        self,
        connector_ids: Iterable[int],
        *,
        limits: ProfileLimits = ProfileLimits(),  # noqa: B008 - frozen, so sharing is safe
        electrical: Electrical = Electrical(),  # noqa: B008
        tz: tzinfo = UTC,
    ) -> None:
        self.connector_ids: frozenset[int] = frozenset(connector_ids) | {0}
        self.limits = limits
        self.electrical = electrical
        self.tz = tz
        self._profiles: list[ChargingProfile] = []
        self._local: dict[int, tuple[LocalPeriod, ...]] = {}

    # -- the store ---------------------------------------------------------------------------

    @property
    def profiles(self) -> tuple[ChargingProfile, ...]:
        """Installed profiles, oldest first."""
        return tuple(self._profiles)

    def install(self, profile: ChargingProfile, transaction: TransactionContext | None) -> None:
        """Install or replace; ProfileError (nothing changed) when the rules refuse it."""
        connector = profile.connector_id
        if connector not in self.connector_ids:
            raise ProfileError(f"there is no connector {connector}")
        if profile.purpose == PURPOSE_CHARGE_POINT_MAX and connector != 0:
            raise ProfileError("a ChargePointMaxProfile can only be set on connector 0")
        if profile.purpose == PURPOSE_TX:
            if connector == 0:
                raise ProfileError("a TxProfile needs a connector, not connector 0")
            if transaction is None:
                raise ProfileError(
                    f"a TxProfile needs a running transaction on connector {connector}"
                )
            if (
                profile.transaction_id is not None
                and transaction.transaction_id is not None
                and profile.transaction_id != transaction.transaction_id
            ):
                raise ProfileError(
                    f"transactionId {profile.transaction_id} is not the running transaction "
                    f"{transaction.transaction_id}"
                )
        if profile.stack_level > self.limits.max_stack_level:
            raise ProfileError(
                f"stackLevel {profile.stack_level} is above ChargeProfileMaxStackLevel "
                f"{self.limits.max_stack_level}"
            )
        if len(profile.periods) > self.limits.max_periods:
            raise ProfileError(
                f"{len(profile.periods)} periods are more than ChargingScheduleMaxPeriods "
                f"{self.limits.max_periods}"
            )
        if UNIT_CONFIG_NAMES[profile.unit] not in self.limits.allowed_units:
            raise ProfileError(
                f"charging rate unit {profile.unit} is not allowed by "
                "ChargingScheduleAllowedChargingRateUnit"
            )
        kept = [
            p
            for p in self._profiles
            if p.profile_id != profile.profile_id
            and not (
                p.purpose == profile.purpose
                and p.stack_level == profile.stack_level
                and p.connector_id == profile.connector_id
            )
        ]
        if len(kept) + 1 > self.limits.max_installed:
            raise ProfileError(
                f"MaxChargingProfilesInstalled ({self.limits.max_installed}) profiles are installed"
            )
        kept.append(profile)
        self._profiles = kept

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """ClearChargingProfile: by id alone, else by every criterion given (none = all)."""
        if profile_id is not None:
            kept = [p for p in self._profiles if p.profile_id != profile_id]
        else:
            kept = [
                p
                for p in self._profiles
                if not (
                    (connector_id is None or p.connector_id == connector_id)
                    and (purpose is None or p.purpose == purpose)
                    and (stack_level is None or p.stack_level == stack_level)
                )
            ]
        changed = len(kept) != len(self._profiles)
        self._profiles = kept
        return changed

    def end_transaction(self, connector_id: int) -> bool:
        """TxProfiles end with their transaction."""
        return self.clear(connector_id=connector_id, purpose=PURPOSE_TX)

    def set_local(self, connector_id: int, periods: Sequence[LocalPeriod]) -> None:
        """Replace the connector's local schedule; for equal starts the later period wins."""
        self._check_connector(connector_id)
        by_start: dict[int, LocalPeriod] = {}
        for period in periods:
            checked = _checked_local(period)
            by_start[_to_us(checked.start)] = checked
        ordered = tuple(by_start[key] for key in sorted(by_start))
        if ordered:
            self._local[connector_id] = ordered
        else:
            self._local.pop(connector_id, None)

    def local(self, connector_id: int) -> tuple[LocalPeriod, ...]:
        return self._local.get(connector_id, ())

    def prune(self, now: datetime) -> bool:
        """Forget what can never apply again; True if anything was dropped."""
        now = aware(now)
        kept = [p for p in self._profiles if p.valid_to is None or p.valid_to > now]
        changed = len(kept) != len(self._profiles)
        self._profiles = kept
        for connector_id, periods in list(self._local.items()):
            in_force = sum(1 for p in periods if p.start <= now)
            if in_force > 1:
                self._local[connector_id] = periods[in_force - 1 :]
                changed = True
        return changed

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state for persistence."""
        return {
            "profiles": [p.to_dict() for p in self._profiles],
            "local": {
                str(connector): [p.to_dict() for p in periods]
                for connector, periods in self._local.items()
            },
        }

    def load(self, data: dict[str, Any]) -> None:
        """Replace the state with persisted data; unreadable entries are skipped and logged."""
        profiles: list[ChargingProfile] = []
        for entry in data.get("profiles") or []:
            try:
                profile = ChargingProfile.from_dict(entry)
            except ProfileError as err:
                _LOGGER.warning("Dropping a stored charging profile: %s", err)
                continue
            if profile.connector_id not in self.connector_ids:
                _LOGGER.warning(
                    "Dropping stored charging profile %s: no connector %s",
                    profile.profile_id,
                    profile.connector_id,
                )
                continue
            profiles.append(profile)
        local: dict[int, tuple[LocalPeriod, ...]] = {}
        raw_local = data.get("local") or {}
        for key, entries in raw_local.items() if isinstance(raw_local, dict) else ():
            try:
                connector_id = int(key)
                periods = [_checked_local(LocalPeriod.from_dict(e)) for e in entries]
            except (ValueError, TypeError, AttributeError) as err:
                _LOGGER.warning("Dropping the stored local schedule of %s: %s", key, err)
                continue
            if connector_id in self.connector_ids and periods:
                local[connector_id] = tuple(sorted(periods, key=lambda p: p.start))
        self._profiles = profiles
        self._local = local

    # -- limits ------------------------------------------------------------------------------

    def limit_at(
        self,
        connector_id: int,
        at: datetime,
        *,
        transaction: TransactionContext | None,
        hardware_max_amps: float,
    ) -> LimitInForce:
        """The limit in force at ``at`` and the next change of amps or source."""
        self._check_connector(connector_id)
        hardware = _checked_hardware(hardware_max_amps)
        begin = _to_us(at)
        horizon = NEXT_CHANGE_HORIZON // _MICROSECOND
        next_change: datetime | None = None
        # Most limits change within a day; look further only when they do not.
        for look_ahead in (horizon // 8, horizon):
            segments = self._sweep(
                connector_id, begin, begin + look_ahead, transaction, hardware, stop_at_change=True
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
    ) -> list[LimitSegment]:
        """Contiguous segments covering [start, start + duration) seconds."""
        self._check_connector(connector_id)
        hardware = _checked_hardware(hardware_max_amps)
        begin = _to_us(start)
        segments = self._sweep(
            connector_id, begin, begin + duration * _US_PER_S, transaction, hardware
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
    ) -> dict[str, Any]:
        """The ``chargingSchedule`` of GetCompositeSchedule.conf."""
        self._check_connector(connector_id)
        hardware = _checked_hardware(hardware_max_amps)
        unit = unit or UNIT_AMPS
        if unit not in (UNIT_AMPS, UNIT_WATTS):
            raise ValueError(f"unknown charging rate unit {unit}")
        begin = _to_us(aware(start).replace(microsecond=0))
        exact_begin = _to_us(start)
        # A zero duration still reports the limit at the start.
        end = exact_begin + max(duration * _US_PER_S, 1)
        segments = self._sweep(connector_id, exact_begin, end, transaction, hardware)
        electrical = self.electrical
        periods: list[dict[str, Any]] = []
        for seg_start, _, amps, phases, _ in segments:
            value = amps if unit == UNIT_AMPS else electrical.to_watts(amps, phases)
            period: dict[str, Any] = {
                "startPeriod": (seg_start - begin) // _US_PER_S,
                "limit": round(value, 1),
            }
            if phases is not None:
                period["numberPhases"] = phases
            if periods and periods[-1]["startPeriod"] == period["startPeriod"]:
                periods.pop()  # the earlier limit lasted less than a second
            previous = periods[-1] if periods else None
            if (
                previous is not None
                and previous["limit"] == period["limit"]
                and previous.get("numberPhases") == period.get("numberPhases")
            ):
                continue
            periods.append(period)
        return {
            "duration": duration,
            "startSchedule": format_date_time(_from_us(begin)),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }

    # -- internals ---------------------------------------------------------------------------

    def _check_connector(self, connector_id: int) -> None:
        if connector_id not in self.connector_ids:
            raise ValueError(f"there is no connector {connector_id}")

    def _layer(
        self, profile: ChargingProfile, connector_id: int, transaction: TransactionContext | None
    ) -> int:
        """Which layer of the sweep a profile feeds for this connector, or _NO_LAYER."""
        purpose = profile.purpose
        if purpose == PURPOSE_CHARGE_POINT_MAX:
            return _LAYER_CHARGE_POINT_MAX if profile.connector_id == 0 else _NO_LAYER
        if connector_id == 0:
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

    def _sweep(
        self,
        connector_id: int,
        begin: int,
        end: int,
        transaction: TransactionContext | None,
        hardware: float,
        *,
        stop_at_change: bool = False,
    ) -> list[_Segment]:
        """Segments over [begin, end): breakpoints of every profile once, then one sweep.

        With ``stop_at_change`` it returns as soon as a second segment with other amps or
        source has begun (its end is then not meaningful).
        """
        if end <= begin:
            return []
        relative_start = begin if transaction is None else _to_us(transaction.started_at)
        events: list[_Event] = [(begin, _NO_LAYER, 0, None)]
        for profile in self._profiles:
            layer = self._layer(profile, connector_id, transaction)
            if layer != _NO_LAYER:
                self._profile_events(profile, layer, begin, end, relative_start, events)
        self._local_events(connector_id, begin, end, events)
        events.sort(key=itemgetter(0))

        active: list[dict[int, _Limit]] = [{} for _ in range(_LAYER_COUNT)]
        cp_max, tx, tx_default_c, tx_default_0, local = active
        hardware_limit: _Limit = (hardware, None, _HARDWARE_SOURCE, _PRIORITY_HARDWARE)
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
            best = hardware_limit
            for layer_active in (
                cp_max,
                tx or tx_default_c or tx_default_0,
                local,
            ):
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
        periods = self._local.get(connector_id)
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
