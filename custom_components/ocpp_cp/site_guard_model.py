"""The site fuse guard's arithmetic: pure, no Home Assistant, time passed in by the caller.

The house and the charger share the main fuse. From the grid current per phase and the
charger's own draw the guard computes what the charger may draw without the fuse blowing:

    house(p)     = grid(p) - own(p)
    headroom(p)  = fuse - margin - house(p)
    available    = min over phases of headroom(p) / phase_factor

(``phase_factor`` is 1 with a current sensor per phase. With one grid power sensor the caller
gives one virtual phase in amps, P / V, and the charger's phases as the factor: a three-phase
charger at I amps per phase costs 3 I amps there.)

The budget the guard grants, in whole amps, follows ``available``:

* down at once, at every reading that asks for less (the caller evaluates on every grid
  update, so within the sensor's own update time);
* up only once ``available`` has stayed above the budget for ``increase_interval_s`` (and at
  least that long after the last change), then to the lowest value it had meanwhile: a noisy
  load never lifts the limit on a short dip, and it rises at most once per interval;
* to ``fallback_a`` at once while a grid reading is missing, unusable or older than
  ``stale_s`` (the start counts as "no reading yet"); from there up again only after an
  interval of fresh readings.

The budget is shared by the connectors with a transaction, equally, in whole amps; when it
cannot give each its minimum, the first ones in connector-id order that fit get an equal share
and the others 0 (they pause). A connector without a transaction is given what it would get if
it started now. A share below the minimum is 0: the charger pauses instead of being raised.

When the grid current of a phase stays above the fuse rating (without margin) for longer than
``reaction_s``, the guard could not keep up: one ``FuseExceeded`` is reported per episode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

MODE_NORMAL: Final = "normal"
MODE_FALLBACK: Final = "fallback"
_EPSILON: Final = 1e-9


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """The settings of a guard; amps per phase, seconds."""

    fuse_a: float
    margin_a: float = 1.0
    reaction_s: float = 2.0
    increase_interval_s: float = 10.0
    min_current_a: float = 6.0
    fallback_a: float = 6.0
    stale_s: float = 30.0
    phases: int = 3  # grid phases measured (1 with a power sensor or a single-phase site)

    def __post_init__(self) -> None:
        for name in ("fuse_a", "reaction_s", "increase_interval_s", "stale_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number")
        for name in ("margin_a", "min_current_a", "fallback_a"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0")
        if self.margin_a >= self.fuse_a:
            raise ValueError("the margin must be below the fuse rating")
        if self.fallback_a > self.fuse_a - self.margin_a:
            raise ValueError("the fallback current must not exceed the fuse minus the margin")
        if not 1 <= self.phases <= 3:
            raise ValueError("phases must be 1, 2 or 3")


@dataclass(frozen=True, slots=True)
class FuseExceeded:
    """The grid current stayed above the fuse for longer than the reaction time."""

    phase: int  # 1-based
    peak_a: float
    fuse_a: float
    seconds: float  # how long it had been above when reported


@dataclass(frozen=True, slots=True)
class GuardResult:
    """What an evaluation decided."""

    limits: dict[int, float]  # connector -> A (0 = pause)
    budget_a: float  # granted to the charger as a whole
    available_a: float | None  # headroom for the charger now; None while in fallback
    mode: str  # MODE_NORMAL | MODE_FALLBACK
    exceeded: FuseExceeded | None  # newly detected this evaluation
    next_check: float | None  # evaluate again at this time even without a reading


def split_budget(budget: float, count: int, minimum: float) -> list[float]:
    """``budget`` shared by ``count`` connectors in order: equal whole-amp shares for as many as
    can get ``minimum``, 0 for the rest."""
    if count <= 0:
        return []
    fitting = count if minimum <= 0 else min(count, math.floor(budget / minimum + _EPSILON))
    if fitting <= 0:
        return [0.0] * count
    share = float(math.floor(budget / fitting + _EPSILON))
    if share < minimum:  # only when minimum is 0 < share < 1: nobody can charge
        share = 0.0
    return [share] * fitting + [0.0] * (count - fitting)


@dataclass
class GuardModel:
    """One guard's state; feed it with ``set_phase`` / ``set_own``, ask ``evaluate``."""

    config: GuardConfig
    started_at: float
    _grid: list[float | None] = field(init=False)
    _grid_at: list[float | None] = field(init=False)
    _own: list[float] = field(init=False)
    _phase_factor: int = field(init=False, default=1)
    budget: float = field(init=False)
    mode: str = field(init=False, default=MODE_FALLBACK)
    _last_change: float = field(init=False)
    _rise_since: float | None = field(init=False, default=None)  # headroom above the budget
    _low_water: float = field(init=False, default=math.inf)  # lowest target since then
    _over_since: float | None = field(init=False, default=None)
    _over_peak: tuple[int, float] = field(init=False, default=(0, 0.0))
    _reported: bool = field(init=False, default=False)
    changes: int = field(init=False, default=0)  # how often the budget changed

    def __post_init__(self) -> None:
        phases = self.config.phases
        self._grid = [None] * phases
        self._grid_at = [None] * phases
        self._own = [0.0] * phases
        self.budget = self.config.fallback_a
        self._last_change = self.started_at

    # -- inputs

    def set_phase(self, phase: int, amps: float | None, now: float) -> None:
        """A grid reading of phase ``phase`` (0-based), in A; None = unavailable."""
        if amps is not None and not math.isfinite(amps):
            amps = None
        self._grid[phase] = amps
        self._grid_at[phase] = now

    def set_own(self, own: Sequence[float], phase_factor: int = 1) -> None:
        """The charger's own draw per measured phase (A) and what one amp of limit costs."""
        self._own = [own[p] if p < len(own) else 0.0 for p in range(self.config.phases)]
        self._phase_factor = max(1, phase_factor)

    # -- the decision

    def fresh(self, now: float) -> bool:
        stale = self.config.stale_s
        return all(
            value is not None and at is not None and now - at <= stale
            for value, at in zip(self._grid, self._grid_at, strict=True)
        )

    def available(self) -> float:
        """Headroom for the charger from the latest readings (they must be there)."""
        config = self.config
        headroom = [
            config.fuse_a - config.margin_a - ((grid or 0.0) - own)
            for grid, own in zip(self._grid, self._own, strict=True)
        ]
        return min(headroom) / self._phase_factor

    def evaluate(
        self,
        now: float,
        active: Sequence[int],
        idle: Sequence[int] = (),
        minimums: Mapping[int, float] | None = None,
    ) -> GuardResult:
        """The limits now for the connectors with a transaction (``active``, in the order
        they are admitted) and the others (``idle``)."""
        config = self.config
        exceeded: FuseExceeded | None = None
        available: float | None = None
        next_checks: list[float] = []
        if not self.fresh(now):
            if self.mode != MODE_FALLBACK or self.budget != config.fallback_a:
                self._set_budget(config.fallback_a, now)
            self.mode = MODE_FALLBACK
            self._over_since = None
            self._reported = False
        else:
            if self.mode == MODE_FALLBACK:
                self.mode = MODE_NORMAL
                self._last_change, self._rise_since = now, None
            available = self.available()
            target = max(0.0, float(math.floor(available + _EPSILON)))
            if target < self.budget:
                self._set_budget(target, now)
            elif target == self.budget:
                self._rise_since = None
            else:
                if self._rise_since is None:
                    self._rise_since, self._low_water = now, target
                self._low_water = min(self._low_water, target)
                due = max(self._rise_since, self._last_change) + config.increase_interval_s
                if now >= due:
                    self._set_budget(self._low_water, now)
                    if target > self.budget:  # still more room: the next rise starts now
                        self._rise_since, self._low_water = now, target
                        next_checks.append(now + config.increase_interval_s)
                else:
                    next_checks.append(due)
            exceeded = self._watch_fuse(now, next_checks)
            oldest = min(t for t in self._grid_at if t is not None)
            next_checks.append(oldest + config.stale_s + 0.001)
        limits = self._split(active, idle, minimums or {})
        return GuardResult(
            limits=limits,
            budget_a=self.budget,
            available_a=available,
            mode=self.mode,
            exceeded=exceeded,
            next_check=min(next_checks) if next_checks else None,
        )

    def _set_budget(self, amps: float, now: float) -> None:
        if amps != self.budget:
            self.changes += 1
        self.budget = amps
        self._last_change, self._rise_since, self._low_water = now, None, math.inf

    def _watch_fuse(self, now: float, next_checks: list[float]) -> FuseExceeded | None:
        fuse = self.config.fuse_a
        phase, peak = max(
            enumerate((g or 0.0 for g in self._grid), start=1), key=lambda item: item[1]
        )
        if peak <= fuse:
            self._over_since = None
            self._reported = False
            return None
        if self._over_since is None:
            self._over_since, self._over_peak = now, (phase, peak)
        elif peak > self._over_peak[1]:
            self._over_peak = (phase, peak)
        lasted = now - self._over_since
        if self._reported:
            return None
        if lasted > self.config.reaction_s:
            self._reported = True
            return FuseExceeded(self._over_peak[0], self._over_peak[1], fuse, round(lasted, 3))
        next_checks.append(self._over_since + self.config.reaction_s + 0.001)
        return None

    def _split(
        self, active: Sequence[int], idle: Sequence[int], minimums: Mapping[int, float]
    ) -> dict[int, float]:
        default_min = self.config.min_current_a
        lows = [minimums.get(cid, default_min) for cid in active]
        # The strictest minimum decides how many fit (equal shares for all).
        low = max(lows, default=default_min)
        limits = dict(zip(active, split_budget(self.budget, len(active), low), strict=True))
        for cid in idle:
            joining = split_budget(
                self.budget, len(active) + 1, max(low, minimums.get(cid, default_min))
            )
            limits[cid] = joining[-1]
        return limits
