"""Smart charging applied: the limit in force per connector, and what the hardware is told.

The profile store and the schedule maths live in ``engine/smart_charging``; this service keeps
them durable (a CSMS change is committed before it is Accepted and before it is applied), wakes
at every period boundary, and drives the charging permission and current limit.

ChargePointMaxProfile is shared (section 3.13.1) by the connectors that may draw now: a
transaction running, durable, authorised, the car plugged in, no fault (``draws``; a pause is
not counted here, the sharing decides it). Every other connector is shown what it would get if
it joined them now. When that set changes, every connector is re-applied, lowered limits first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16.enums import ChargePointStatus, Measurand

from ..charging_limits import LimitInForce, LimitSegment
from ..charging_profile import (
    ChargingProfile,
    LocalPeriod,
    ProfileError,
    SharedConnector,
    TransactionContext,
)
from ..connector import Connector
from ..hardware import ChargingLimit
from ..smart_charging import ChargingProfiles, ProfileLimits
from ..timestamps import parse_rfc3339
from .context import EngineContext

_LOGGER = logging.getLogger(__name__)

DOCUMENT_PROFILES = "charging_profiles"
# The limit timer never sleeps longer than this, so a wall-clock jump is caught within it.
LIMIT_RECHECK_SECONDS = 300.0


class LimitService:
    def __init__(self, ctx: EngineContext, profiles: ChargingProfiles) -> None:
        self.ctx = ctx
        self.profiles = profiles
        # Bumped on every change of profiles, local limits, hardware max or transactions.
        self._version = 0
        self._cache: dict[int, tuple[tuple[int, frozenset[int]], LimitInForce]] = {}
        # The connectors drawing when the limits were last applied (they share ChargePointMax).
        self._applied_drawing: frozenset[int] = frozenset()
        self._wakeup = asyncio.Event()
        self._permitted: dict[int, bool] = {}
        self._last_limit: dict[int, ChargingLimit] = {}
        self._announced: dict[int, tuple[float, Any]] = {}
        # RemoteStartTransaction's TxProfile, installed when its transaction begins.
        self._pending_profiles: dict[int, ChargingProfile] = {}
        # Re-evaluates statuses after a pause or resume (set by the composition root).
        self.refresh: Callable[[Connector], None] = lambda connector: None

    @staticmethod
    def profile_limits(config: Any) -> ProfileLimits:
        return ProfileLimits(
            max_stack_level=config.get_int("ChargeProfileMaxStackLevel"),
            max_periods=config.get_int("ChargingScheduleMaxPeriods"),
            max_installed=config.get_int("MaxChargingProfilesInstalled"),
            allowed_units=tuple(config.get_list("ChargingScheduleAllowedChargingRateUnit")),
        )

    async def restore(self) -> None:
        saved = await self.ctx.journal.load_document(DOCUMENT_PROFILES)
        if isinstance(saved, dict):
            try:
                self.profiles.load(saved)
            except (KeyError, TypeError, ValueError) as err:
                _LOGGER.warning("Stored charging profiles unreadable, starting without: %s", err)
        removed = False  # TxProfiles of transactions that ended while we were down
        for connector in self.ctx.connectors.values():
            if connector.connector_id > 0 and connector.transaction is None:
                removed = self.profiles.end_transaction(connector.connector_id) or removed
        if removed:
            self._save_soon()

    # -- what is in force -------------------------------------------------------------------

    def _hardware_max(self, connector: Connector) -> float:
        if connector.hardware_max_amps is not None:
            return connector.hardware_max_amps
        return self.ctx.settings.hardware_max_current

    @staticmethod
    def tx_context(connector: Connector) -> TransactionContext | None:
        tx = connector.transaction
        if tx is None:
            return None
        started = parse_rfc3339(tx.started_at) or datetime.now(UTC)
        # The id of a StartTransaction.conf on its way to the journal counts: the CSMS may
        # send a TxProfile naming it right behind its answer.
        known = tx.transaction_id if tx.transaction_id is not None else tx.confirming_id
        return TransactionContext(transaction_id=known, started_at=started)

    @staticmethod
    def draws(connector: Connector) -> bool:
        """May draw now but for a pause: the connectors that share ChargePointMax."""
        tx = connector.transaction
        return (
            connector.connector_id > 0
            and tx is not None
            and tx.durable  # never before its StartTransaction is in the journal
            and not tx.deauthorized
            and connector.plugged
            and connector.status() != ChargePointStatus.faulted
        )

    def _drawing(self) -> frozenset[int]:
        return frozenset(cid for cid, c in self.ctx.connectors.items() if self.draws(c))

    def _sharing(self, connector: Connector, drawing: frozenset[int]) -> dict[str, Any]:
        """The keyword arguments that make a limit query count the other connectors drawing."""
        if connector.connector_id == 0:
            return {}
        return {
            "hardware_min_amps": connector.hardware_min_amps,
            "shared_with": {
                cid: SharedConnector(
                    self.tx_context(other), self._hardware_max(other), other.hardware_min_amps
                )
                for cid in sorted(drawing - {connector.connector_id})
                for other in (self.ctx.connector(cid),)
            },
        }

    def limit_in_force(self, connector_id: int) -> LimitInForce:
        """min(ChargePointMax or its share, TxProfile or TxDefault, local, hardware) now."""
        now = self.ctx.now()
        drawing = self._drawing()
        key = (self._version, drawing)
        cached = self._cache.get(connector_id)
        if cached is not None and cached[0] == key:
            limit = cached[1]
            if limit.next_change is None or now < limit.next_change:
                return limit
        connector = self.ctx.connector(connector_id)
        limit = self.profiles.limit_at(
            connector_id,
            now,
            transaction=self.tx_context(connector),
            hardware_max_amps=self._hardware_max(connector),
            **self._sharing(connector, drawing),
        )
        self._cache[connector_id] = (key, limit)
        return limit

    def schedule(self, connector_id: int, duration: int) -> list[LimitSegment]:
        """The limits in force from now on for ``duration`` seconds, segment by segment."""
        connector = self.ctx.connector(connector_id)
        return self.profiles.schedule(
            connector_id,
            self.ctx.now().replace(microsecond=0),
            duration,
            transaction=self.tx_context(connector),
            hardware_max_amps=self._hardware_max(connector),
            **self._sharing(connector, self._drawing()),
        )

    def composite(
        self, connector_id: int, duration: int, unit: str | None = None
    ) -> tuple[datetime, dict[str, Any]]:
        """GetCompositeSchedule's schedule now, and the start it counts from."""
        connector = self.ctx.connector(connector_id)
        start = self.ctx.now().replace(microsecond=0)
        schedule = self.profiles.composite(
            connector_id,
            start,
            duration,
            unit,
            transaction=self.tx_context(connector),
            hardware_max_amps=self._hardware_max(connector),
            **self._sharing(connector, self._drawing()),
        )
        return start, schedule

    def allowed_amps(self, connector: Connector) -> float:
        """The limit in force, whether or not a transaction may draw it now."""
        return max(0.0, self.limit_in_force(connector.connector_id).amps)

    def may_charge(self, connector: Connector) -> bool:
        return self.draws(connector) and not connector.paused

    def limit_amps(self, connector: Connector) -> float:
        """The current the connector may draw now (0 while paused or not authorised)."""
        if connector.connector_id == 0 or not self.may_charge(connector):
            return 0.0
        return self.allowed_amps(connector)

    def offered(self, connector: Connector) -> dict[str, float]:
        """Current/Power.Offered: what the charger reports offering if it does, else the limit."""
        settings = self.ctx.settings
        amps = self.limit_amps(connector)
        reported = self.ctx.readings[connector.connector_id].get(Measurand.current_offered)
        if reported is not None:
            amps = reported if self.may_charge(connector) else 0.0
        tx = connector.transaction
        frozen = tx.offered_amps if tx is not None else None
        if settings.freeze_current_offered and frozen is not None:
            amps = frozen
        return {
            Measurand.current_offered: amps,
            Measurand.power_offered: amps * settings.nominal_voltage * settings.phases,
        }

    # -- hardware and local limits ----------------------------------------------------------

    def set_hardware_max(self, connector_id: int, amps: float | None) -> None:
        """The most this connector's hardware can deliver now; None = the settings' value."""
        connector = self.ctx.connector(connector_id)
        if amps is not None and not (math.isfinite(amps) and amps >= 0):
            amps = None  # a broken reading is no reason to lift or break the limit
        if connector.hardware_max_amps != amps:
            connector.hardware_max_amps = amps
            self.changed()

    def set_hardware_min(self, connector_id: int, amps: float | None) -> None:
        """The least current the hardware can offer; a lower limit pauses rather than being
        rounded up (a 4 A limit must never become 6 A)."""
        connector = self.ctx.connector(connector_id)
        if amps is not None and not (math.isfinite(amps) and amps >= 0):
            amps = None
        if connector.hardware_min_amps != amps:
            connector.hardware_min_amps = amps
            self.changed()

    def set_site_guard(self, limits: dict[int, float | None]) -> None:
        """The site fuse guard's limits (None = none), applied together (lowered first); in
        memory only, see ChargingProfiles. ValueError for a bad one (those before it hold)."""
        changed = False
        try:
            for connector_id, amps in limits.items():
                connector = self.ctx.connector(connector_id)
                changed = self.profiles.set_guard(connector.connector_id, amps) or changed
        finally:
            if changed:
                self.changed()

    def _local_targets(self, connector_id: int) -> list[int]:
        if connector_id == 0:
            return [c for c in self.ctx.connectors if c > 0]
        return [self.ctx.connector(connector_id).connector_id]

    def set_local_limit(
        self,
        connector_id: int,
        amps: float | None = None,
        watts: float | None = None,
        *,
        duration: float | None = None,
    ) -> None:
        now = self.ctx.now()
        periods: list[LocalPeriod] = []
        if amps is not None or watts is not None:
            periods.append(LocalPeriod(start=now, amps=amps, watts=watts))
            if duration:
                periods.append(LocalPeriod(start=now + timedelta(seconds=duration)))
        self.set_local_schedule(connector_id, periods)

    def set_local_schedule(self, connector_id: int, periods: list[LocalPeriod]) -> None:
        for cid in self._local_targets(connector_id):
            self.profiles.set_local(cid, periods)
        self._save_soon()
        self.changed()

    # -- CSMS profiles: durable before Accepted, applied after ------------------------------

    async def set_profile(self, connector_id: int, data: dict[str, Any]) -> str | None:
        """SetChargingProfile: None once installed and durable, else why it was refused."""
        connector = self.ctx.connectors.get(connector_id)
        try:
            profile = ChargingProfile.from_ocpp(connector_id, data, received_at=self.ctx.now())
            transaction = self.tx_context(connector) if connector is not None else None
            self.profiles.install(profile, transaction)  # refuses an unknown connector
        except ProfileError as err:
            return str(err)
        if not await self.ctx.save_document(DOCUMENT_PROFILES, self.profiles.to_dict()):
            return "the profile could not be stored"
        self.changed()
        return None

    async def clear_profiles(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> bool:
        """ClearChargingProfile: True once something was removed and that is durable."""
        removed = self.profiles.clear(
            profile_id=profile_id,
            connector_id=connector_id,
            purpose=purpose,
            stack_level=stack_level,
        )
        if not removed:
            return False
        await self.ctx.save_document(DOCUMENT_PROFILES, self.profiles.to_dict())
        self.changed()
        return True

    def hold_profile(self, connector_id: int, data: dict[str, Any] | None) -> None:
        """RemoteStartTransaction's TxProfile, for the transaction it starts (may raise)."""
        self._pending_profiles.pop(connector_id, None)
        if data is not None:
            profile = ChargingProfile.from_ocpp(connector_id, data, received_at=self.ctx.now())
            if profile.transaction_id is not None:
                # Section 5.11: the CSMS shall not set it; the transaction has no id yet, so it
                # would be refused when the transaction starts (section 7.8).
                raise ProfileError("a RemoteStartTransaction profile must not name a transaction")
            self._pending_profiles[connector_id] = profile

    def transaction_starting(self, connector: Connector) -> None:
        """Relative profiles and RemoteStart's TxProfile start with the transaction."""
        profile = self._pending_profiles.pop(connector.connector_id, None)
        if profile is not None:
            try:
                self.profiles.install(profile, self.tx_context(connector))
                self._save_soon()
            except ProfileError:
                pass  # refused as it would be by SetChargingProfile
        self.changed()

    def transaction_ended(self, connector: Connector) -> None:
        if self.profiles.end_transaction(connector.connector_id):
            self._save_soon()
        self._version += 1
        self._wakeup.set()

    def transaction_id_known(self) -> None:
        self._version += 1  # a TxProfile may name this transaction id

    def _save_soon(self) -> None:
        self.ctx.persist(
            self.ctx.save_document(DOCUMENT_PROFILES, self.profiles.to_dict()), "profiles"
        )

    # -- applying ---------------------------------------------------------------------------

    def changed(self) -> None:
        self._version += 1
        self._apply()
        self._wakeup.set()

    def _apply(self) -> None:
        """Re-evaluate every connector: pause at 0, resume above it, tell the hardware.

        Connectors whose current goes down are told first, so that while ChargePointMax is
        shared anew the connectors together never draw more than it.
        """
        self._applied_drawing = self._drawing()
        order: list[tuple[float, int, Connector]] = []
        for connector in self.ctx.connectors.values():
            cid = connector.connector_id
            if cid == 0:
                continue
            limit = self.limit_in_force(cid)
            connector.paused = limit.amps <= 0 or limit.amps < (connector.hardware_min_amps or 0)
            announced = (limit.amps, limit.source)
            if self._announced.get(cid) != announced:
                self._announced[cid] = announced
                self.ctx.emit(
                    "limit",
                    connector_id=cid,
                    amps=limit.amps,
                    source=limit.source.kind,
                    profile_id=limit.source.profile_id,
                    next_change=limit.next_change.isoformat() if limit.next_change else None,
                )
            written = self._last_limit.get(cid) if self._permitted.get(cid) else None
            before = written.amps if written is not None and written.amps is not None else 0.0
            order.append((self.limit_amps(connector) - before, cid, connector))
        for _, _, connector in sorted(order, key=lambda item: item[:2]):
            self.refresh(connector)

    async def loop(self) -> None:
        """Wake at each period boundary (or validity edge) and apply the new limit."""
        while True:
            self._wakeup.clear()
            if self.profiles.prune(self.ctx.now()):
                self._save_soon()
                self._version += 1
            self._apply()
            changes = [
                limit.next_change
                for cid in self.ctx.connectors
                if cid > 0 and (limit := self.limit_in_force(cid)).next_change is not None
            ]
            delay = LIMIT_RECHECK_SECONDS
            if changes:
                until = (min(changes) - self.ctx.now()).total_seconds()
                delay = min(delay, max(0.0, until) + 0.001)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)

    def update_outputs(self, connector: Connector) -> None:
        if connector.connector_id == 0:
            return
        if self._drawing() != self._applied_drawing:
            # A connector began or stopped drawing: ChargePointMax is shared anew, so every
            # connector is re-applied (this one included; _apply records the new set first).
            self.changed()
            return
        permitted = self.may_charge(connector)
        limit = ChargingLimit(amps=self.limit_amps(connector) if permitted else None)
        cid = connector.connector_id
        hardware = self.ctx.hardware
        # The limit goes out before a permission: never charging on a stale, higher limit.
        if permitted and self._last_limit.get(cid) != limit:
            self._last_limit[cid] = limit
            self.ctx.spawn(hardware.set_charging_limit(cid, limit), "limit")
        if self._permitted.get(cid) != permitted:
            self._permitted[cid] = permitted
            self.ctx.spawn(hardware.set_charging_permitted(cid, permitted), "permit")

    def reassert_outputs(self, connector_id: int) -> None:
        """Send the permission and limit in force again (the hardware drifted from them)."""
        self._permitted.pop(connector_id, None)
        self._last_limit.pop(connector_id, None)
        self.update_outputs(self.ctx.connector(connector_id))
