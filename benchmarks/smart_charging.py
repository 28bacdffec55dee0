"""Smart-charging benchmark: GetCompositeSchedule and the limit in force with a full profile store.

Run:  $(bash scripts/venv.sh)/bin/python benchmarks/smart_charging.py [--runs N] [--json FILE]

The store is filled to the default configuration limits: MaxChargingProfilesInstalled = 16
profiles, each with ChargingScheduleMaxPeriods = 24 periods, stack levels up to 8. The mix:
ChargePointMax (Daily recurring in W, Absolute in A), TxDefault on connector 0 (Absolute,
Daily and Weekly recurring, Relative), TxDefault on connector 1 (five stack levels with
validFrom/validTo windows and durations, W and A), TxDefault on connector 2, and two
TxProfiles for the running transaction on connector 1 (Relative and Absolute, numberPhases
1 and 3). Connector 1 also has a 24-period local schedule (amps and watts). The time zone
is Europe/Berlin and the window starts on 2026-03-28, so the 24 h window crosses the spring
DST change; each run moves the start by 7 minutes so that breakpoints fall differently.

Rows (``time.perf_counter``, after 20 warm-up calls each):

* ``composite(1, start, 86400, "W")``: the GetCompositeSchedule.conf schedule for 24 h.
* ``composite(1, start, 86400, "A")``.
* ``limit_at(1, start)``: the limit in force and its next change (8 days of look-ahead at most).
* ``composite(1, start, 10**10, "W")``: a pathological GetCompositeSchedule. The window is
  capped at 2 days and the answer at ChargingScheduleMaxPeriods periods; before the cap this
  took seconds and blocked the event loop.
* ``shared composite`` / ``shared limit_at``: the same with connector 2 drawing too, so that
  ChargePointMax is shared (one more sweep per connector, then the split at every breakpoint).

p50 / p99 / max in ms. Target (printed, no exit code): composite p99 under 5 ms, every row.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent))
import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common import percentile

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from custom_components.ocpp_cp.engine.charging_limits import Electrical  # noqa: E402
from custom_components.ocpp_cp.engine.charging_profile import (  # noqa: E402
    PURPOSE_CHARGE_POINT_MAX,
    PURPOSE_TX,
    PURPOSE_TX_DEFAULT,
    ChargingProfile,
    LocalPeriod,
    SharedConnector,
    TransactionContext,
)
from custom_components.ocpp_cp.engine.smart_charging import (  # noqa: E402
    ChargingProfiles,
    ProfileLimits,
)

TARGET_MS = 5.0
START = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
TRANSACTION = TransactionContext(4711, START - timedelta(hours=1))
HARDWARE_MAX_AMPS = 32.0
PATHOLOGICAL_SECONDS = 10**10
# Connector 2 drawing as well (its own transaction started 30 minutes before the window).
SHARED_WITH = {
    2: SharedConnector(TransactionContext(4712, START - timedelta(minutes=30)), 32.0, 6.0)
}


def profile(
    connector_id: int,
    profile_id: int,
    purpose: str,
    stack: int,
    *,
    kind: str = "Absolute",
    unit: str = "A",
    step: int = 3600,
    base: float = 16.0,
    phases: int | None = None,
    **extra: Any,
) -> ChargingProfile:
    """A profile with 24 periods of ``step`` seconds whose limits wander around ``base``."""
    periods = []
    for i in range(24):
        limit = base * (0.5 + ((i * 7 + profile_id) % 11) / 10)
        period: dict[str, Any] = {"startPeriod": i * step, "limit": round(limit, 1)}
        if phases is not None:
            period["numberPhases"] = phases
        periods.append(period)
    schedule: dict[str, Any] = {"chargingRateUnit": unit, "chargingSchedulePeriod": periods}
    for key in ("startSchedule", "duration"):
        if key in extra:
            schedule[key] = extra.pop(key)
    data = {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **extra,
    }
    return ChargingProfile.from_ocpp(connector_id, data, received_at=START - timedelta(hours=3))


def full_store() -> ChargingProfiles:
    limits = ProfileLimits()
    store = ChargingProfiles(
        [1, 2], limits=limits, electrical=Electrical(230.0, 3), tz=ZoneInfo("Europe/Berlin")
    )
    day = "2026-03-20T22:00:00+01:00"
    profiles = [
        profile(0, 1, PURPOSE_CHARGE_POINT_MAX, 0, kind="Recurring", recurrencyKind="Daily",
                startSchedule=day, unit="W", base=15000),
        profile(0, 2, PURPOSE_CHARGE_POINT_MAX, 1, step=1800, base=28,
                validTo="2026-03-29T06:00:00Z"),
        profile(0, 3, PURPOSE_TX_DEFAULT, 0, step=3600, base=16),
        profile(0, 4, PURPOSE_TX_DEFAULT, 1, kind="Recurring", recurrencyKind="Daily",
                startSchedule=day, unit="W", base=9000, phases=3),
        profile(0, 5, PURPOSE_TX_DEFAULT, 2, kind="Recurring", recurrencyKind="Weekly",
                startSchedule="2026-03-22T12:00:00+01:00", step=7200, duration=86400),
        profile(0, 6, PURPOSE_TX_DEFAULT, 3, kind="Relative", step=600, duration=14400),
        profile(1, 7, PURPOSE_TX_DEFAULT, 0, step=3600, base=20),
        profile(1, 8, PURPOSE_TX_DEFAULT, 1, step=900, validFrom="2026-03-28T14:00:00Z",
                validTo="2026-03-28T20:00:00Z"),
        profile(1, 9, PURPOSE_TX_DEFAULT, 2, unit="W", step=1200, base=7000, phases=1,
                startSchedule="2026-03-28T18:00:00Z", duration=21600),
        profile(1, 10, PURPOSE_TX_DEFAULT, 3, kind="Recurring", recurrencyKind="Daily",
                startSchedule="2026-03-27T06:00:00Z", step=300, duration=7200),
        profile(1, 11, PURPOSE_TX_DEFAULT, 4, step=900, validFrom="2026-03-29T00:00:00Z",
                duration=21600),
        profile(2, 12, PURPOSE_TX_DEFAULT, 0, step=3600),
        profile(2, 13, PURPOSE_TX_DEFAULT, 1, kind="Recurring", recurrencyKind="Daily",
                startSchedule=day, unit="W", base=11000),
        profile(2, 14, PURPOSE_TX_DEFAULT, 2, kind="Relative", step=1800),
        profile(1, 15, PURPOSE_TX, 5, kind="Relative", step=600, phases=1, duration=14400,
                transactionId=TRANSACTION.transaction_id),
        profile(1, 16, PURPOSE_TX, 6, startSchedule="2026-03-28T16:00:00Z", step=1200,
                phases=3, unit="W", base=10000, duration=28800),
    ]  # fmt: skip
    for item in profiles:
        store.install(item, TRANSACTION)
    assert len(store.profiles) == limits.max_installed
    local = [
        LocalPeriod(
            START + timedelta(hours=i),
            amps=None if i % 4 == 3 else 10.0 + i % 9,
            watts=6000.0 + 250 * i if i % 3 == 0 else None,
        )
        for i in range(24)
    ]
    store.set_local(1, local)
    return store


def time_calls(call: Callable[[int], object], runs: int) -> list[float]:
    for i in range(20):
        call(i)
    samples = []
    for i in range(runs):
        began = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed calls per row")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    store = full_store()

    def start(i: int) -> datetime:
        return START + timedelta(minutes=7 * i)

    def composite(unit: str, duration: int = 86400, **sharing: Any) -> Callable[[int], object]:
        return lambda i: store.composite(
            1,
            start(i),
            duration,
            unit,
            transaction=TRANSACTION,
            hardware_max_amps=HARDWARE_MAX_AMPS,
            **sharing,
        )

    def limit_at(**sharing: Any) -> Callable[[int], object]:
        return lambda i: store.limit_at(
            1, start(i), transaction=TRANSACTION, hardware_max_amps=HARDWARE_MAX_AMPS, **sharing
        )

    shared: dict[str, Any] = {"hardware_min_amps": 6.0, "shared_with": SHARED_WITH}
    sample = store.composite(
        1, START, 86400, "W", transaction=TRANSACTION, hardware_max_amps=HARDWARE_MAX_AMPS
    )
    segments = store.schedule(
        1, START, 86400, transaction=TRANSACTION, hardware_max_amps=HARDWARE_MAX_AMPS
    )
    pathological = store.composite(
        1,
        START,
        PATHOLOGICAL_SECONDS,
        "W",
        transaction=TRANSACTION,
        hardware_max_amps=HARDWARE_MAX_AMPS,
    )
    rows: dict[str, dict[str, float]] = {}
    for label, call in (
        ('composite(1, start, 86400, "W")', composite("W")),
        ('composite(1, start, 86400, "A")', composite("A")),
        ("limit_at(1, start)", limit_at()),
        ('composite(1, start, 10**10, "W")', composite("W", PATHOLOGICAL_SECONDS)),
        ('shared composite(1, 86400, "W")', composite("W", **shared)),
        ("shared limit_at(1, start)", limit_at(**shared)),
    ):
        ms = time_calls(call, args.runs)
        rows[label] = {
            "p50": percentile(ms, 50),
            "p99": percentile(ms, 99),
            "max": max(ms),
        }

    print(
        f"smart charging: {len(store.profiles)} profiles x 24 periods + 24 local periods, "
        f"{args.runs} runs per row, Python {platform.python_version()}"
    )
    print(
        f"24 h window from {START:%Y-%m-%d %H:%M} UTC: {len(segments)} segments, "
        f"{len(sample['chargingSchedulePeriod'])} composite periods (W)"
    )
    print(
        f"10**10 s requested: {len(pathological['chargingSchedulePeriod'])} periods covering "
        f"{pathological['duration']} s"
    )
    print(f"{'row':<36} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, figures in rows.items():
        print(f"{label:<36} {figures['p50']:8.3f} {figures['p99']:8.3f} {figures['max']:8.3f}")
    worst = max(rows[label]["p99"] for label in rows if "composite" in label)
    verdict = "met" if worst < TARGET_MS else "MISSED"
    print(f"target: composite p99 < {TARGET_MS:g} ms: {worst:.3f} ms, {verdict}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "rows": rows,
                    "target_ms": TARGET_MS,
                    "runs": args.runs,
                    "segments": len(segments),
                    "composite_periods": len(sample["chargingSchedulePeriod"]),
                    "pathological_periods": len(pathological["chargingSchedulePeriod"]),
                    "pathological_duration": pathological["duration"],
                    "python": platform.python_version(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
