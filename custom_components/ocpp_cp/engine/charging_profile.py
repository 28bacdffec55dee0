"""OCPP 1.6 charging profiles: the profile model, reading and checking one from the wire.

``ChargingProfile.from_ocpp`` reads a ``csChargingProfiles`` / ``chargingProfile`` dict and
refuses anything malformed with a ``ProfileError`` (SetChargingProfile -> Rejected);
``to_ocpp`` / ``to_dict`` write it back for the wire and for persistence. Also here: the inputs
the limit calculation takes besides profiles (``TransactionContext``, ``SharedConnector``,
``LocalPeriod``) and the date-time helpers shared by the smart-charging modules.

Times are handled internally as integer microseconds since the epoch: exact, and fast to sort.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ocpp.v16.enums import (
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    RecurrencyKind,
)

from .timestamps import parse_rfc3339

PURPOSE_CHARGE_POINT_MAX: Final = ChargingProfilePurposeType.charge_point_max_profile.value
PURPOSE_TX_DEFAULT: Final = ChargingProfilePurposeType.tx_default_profile.value
PURPOSE_TX: Final = ChargingProfilePurposeType.tx_profile.value
PURPOSES: Final = (PURPOSE_CHARGE_POINT_MAX, PURPOSE_TX_DEFAULT, PURPOSE_TX)

KIND_ABSOLUTE: Final = ChargingProfileKindType.absolute.value
KIND_RECURRING: Final = ChargingProfileKindType.recurring.value
KIND_RELATIVE: Final = ChargingProfileKindType.relative.value
KINDS: Final = (KIND_ABSOLUTE, KIND_RECURRING, KIND_RELATIVE)

RECURRENCY_DAILY: Final = RecurrencyKind.daily.value
RECURRENCY_WEEKLY: Final = RecurrencyKind.weekly.value
RECURRENCIES: Final = (RECURRENCY_DAILY, RECURRENCY_WEEKLY)

UNIT_AMPS: Final = ChargingRateUnitType.amps.value
UNIT_WATTS: Final = ChargingRateUnitType.watts.value
# ChargingScheduleAllowedChargingRateUnit names the units "Current" and "Power".
UNIT_CONFIG_NAMES: Final = {UNIT_AMPS: "Current", UNIT_WATTS: "Power"}

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class ProfileError(ValueError):
    """A profile we refuse (SetChargingProfile -> Rejected); str() says why in words."""


# --------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------


def parse_date_time(value: Any, name: str) -> datetime:
    """An RFC 3339 date-time as an aware datetime; without an offset it is read as UTC."""
    moment = parse_rfc3339(value)
    if moment is None:
        raise ProfileError(f"{name} is not an RFC 3339 date-time")
    return moment


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


@dataclass(frozen=True, slots=True)
class TransactionContext:
    """The running transaction of a connector, as far as profiles care."""

    transaction_id: int | None  # None while the CSMS has not answered StartTransaction yet
    started_at: datetime


@dataclass(frozen=True, slots=True)
class SharedConnector:
    """A connector that draws from the ChargePointMaxProfile's limit (shared by all of them).

    ``hardware_min_amps`` is the least current it can be offered (IEC 61851: 6 A); a share
    below it would pause it, so the limit goes to fewer connectors instead.
    """

    transaction: TransactionContext | None
    hardware_max_amps: float
    hardware_min_amps: float | None = None


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
