"""OCPP 1.6 smart charging: the charging-profile store of one charge point.

Pure and synchronous (no I/O, no asyncio, no Home Assistant) so that every rule can be tested
with hand-computed schedules. The engine glue installs profiles from SetChargingProfile and
RemoteStartTransaction, persists ``ChargingProfiles.to_dict()``, and asks ``limit_at`` /
``composite`` what the charger may draw.

The profile model and its parsing live in ``charging_profile``; the limit calculation, and the
semantics it follows, in ``charging_limits``. This module holds the store: which profiles are
installed (ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods, MaxChargingProfilesInstalled
and the allowed units are enforced here), the local schedules set by Home Assistant, and their
persistence.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from .charging_limits import Electrical, LimitCalculator, LimitInForce, LimitSegment
from .charging_profile import (
    PURPOSE_CHARGE_POINT_MAX,
    PURPOSE_TX,
    UNIT_CONFIG_NAMES,
    ChargingProfile,
    LocalPeriod,
    ProfileError,
    SharedConnector,
    TransactionContext,
    _to_us,
    aware,
)

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProfileLimits:
    """The configuration keys that bound what SetChargingProfile may install."""

    max_stack_level: int = 8  # ChargeProfileMaxStackLevel
    max_periods: int = 24  # ChargingScheduleMaxPeriods
    max_installed: int = 16  # MaxChargingProfilesInstalled (all purposes, all connectors)
    allowed_units: tuple[str, ...] = ("Current", "Power")  # ChargingScheduleAllowedChargingRateUnit


def _checked_local(period: LocalPeriod) -> LocalPeriod:
    for name, value in (("amps", period.amps), ("watts", period.watts)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"local {name} must be a finite number >= 0")
    return replace(period, start=aware(period.start))


# --------------------------------------------------------------------------------------------
# The store
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
        # The site fuse guard's limit per connector (A); not persisted: the HA layer sets it
        # again at start (its fallback current until a fresh grid reading).
        self._guard: dict[int, float] = {}

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
            # Section 7.8: the transactionId, when given, must be the running transaction's;
            # before StartTransaction.conf the charge point cannot know that it is.
            if profile.transaction_id is not None and transaction.transaction_id is None:
                raise ProfileError(
                    f"transactionId {profile.transaction_id} cannot be checked: the running "
                    "transaction has no id yet"
                )
            if (
                profile.transaction_id is not None
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

    def set_guard(self, connector_id: int, amps: float | None) -> bool:
        """The site fuse guard's limit of a connector > 0 (None = none); True if it changed."""
        self._check_connector(connector_id)
        if connector_id == 0:
            raise ValueError("the site guard limits a connector, not connector 0")
        if amps is not None and not (math.isfinite(amps) and amps >= 0):
            raise ValueError("a site guard limit must be a finite number >= 0")
        if self._guard.get(connector_id) == amps:
            return False
        if amps is None:
            del self._guard[connector_id]
        else:
            self._guard[connector_id] = float(amps)
        return True

    def guard(self, connector_id: int) -> float | None:
        return self._guard.get(connector_id)

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
        hardware_min_amps: float | None = None,
        shared_with: Mapping[int, SharedConnector] | None = None,
    ) -> LimitInForce:
        """The limit in force at ``at`` and the next change of amps or source.

        ``shared_with``: the other connectors drawing now, which share ChargePointMax with
        this one (see ``charging_limits``); without it the connector has it to itself.
        """
        self._check_connector(connector_id)
        return self._calculator().limit_at(
            connector_id,
            at,
            transaction=transaction,
            hardware_max_amps=hardware_max_amps,
            hardware_min_amps=hardware_min_amps,
            shared_with=shared_with,
        )

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
        self._check_connector(connector_id)
        return self._calculator().schedule(
            connector_id,
            start,
            duration,
            transaction=transaction,
            hardware_max_amps=hardware_max_amps,
            hardware_min_amps=hardware_min_amps,
            shared_with=shared_with,
        )

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
    ) -> dict[str, Any]:
        """The ``chargingSchedule`` of GetCompositeSchedule.conf: at most 2 days computed, at
        most ChargingScheduleMaxPeriods periods (``duration`` is then the span they cover)."""
        self._check_connector(connector_id)
        return self._calculator().composite(
            connector_id,
            start,
            duration,
            unit,
            transaction=transaction,
            hardware_max_amps=hardware_max_amps,
            hardware_min_amps=hardware_min_amps,
            shared_with=shared_with,
            max_periods=self.limits.max_periods,
        )

    # -- internals ---------------------------------------------------------------------------

    def _check_connector(self, connector_id: int) -> None:
        if connector_id not in self.connector_ids:
            raise ValueError(f"there is no connector {connector_id}")

    def _calculator(self) -> LimitCalculator:
        return LimitCalculator(self._profiles, self._local, self.electrical, self.tz, self._guard)
