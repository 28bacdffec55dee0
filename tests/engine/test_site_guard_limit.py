"""The site fuse guard as a limit source of the engine: the lowest limit wins, it is reported as
``site_guard``, it shows in GetCompositeSchedule, and 0 pauses as SuspendedEVSE (real CSMS)."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import pytest
from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ChargingLimit
from custom_components.ocpp_cp.engine.charging_limits import LimitSource
from custom_components.ocpp_cp.engine.charging_profile import (
    PURPOSE_CHARGE_POINT_MAX,
    PURPOSE_TX_DEFAULT,
    ChargingProfile,
    LocalPeriod,
    SharedConnector,
    TransactionContext,
)
from custom_components.ocpp_cp.engine.smart_charging import ChargingProfiles
from tests.csms import TestCsms
from tests.engine.conftest import EngineFactory, RecordingHardware
from tests.engine.test_core import accepted_engine

TEN = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
ELEVEN = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
GUARD = LimitSource("site_guard")


def profile(
    connector_id: int, profile_id: int, purpose: str, periods: list[tuple[int, float]]
) -> ChargingProfile:
    return ChargingProfile.from_ocpp(
        connector_id,
        {
            "chargingProfileId": profile_id,
            "stackLevel": 0,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": TEN.isoformat(),
                "chargingSchedulePeriod": [{"startPeriod": s, "limit": a} for s, a in periods],
            },
        },
        received_at=TEN,
    )


def test_the_lowest_limit_wins_and_says_so() -> None:
    store = ChargingProfiles([1, 2])
    store.install(profile(0, 1, PURPOSE_TX_DEFAULT, [(0, 20), (3600, 8)]), None)
    assert store.set_guard(1, 10.0) is True
    assert store.set_guard(1, 10.0) is False  # unchanged
    limit = store.limit_at(1, TEN, transaction=None, hardware_max_amps=32)
    assert (limit.amps, limit.source, limit.next_change) == (10.0, GUARD, ELEVEN)
    segments = store.schedule(1, TEN, 7200, transaction=None, hardware_max_amps=32)
    assert [(s.start, s.amps, s.source.kind) for s in segments] == [
        (TEN, 10.0, "site_guard"),
        (ELEVEN, 8.0, "tx_default_profile"),  # the CSMS's 8 A is lower from 11:00
    ]
    composite = store.composite(1, TEN, 7200, "A", transaction=None, hardware_max_amps=32)
    assert composite["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0, "numberPhases": 1},
        {"startPeriod": 3600, "limit": 8.0, "numberPhases": 1},
    ]
    # connector 2 has no guard limit; connector 0 (the charge point's total) never has one
    assert store.limit_at(2, TEN, transaction=None, hardware_max_amps=32).amps == 20.0
    assert store.limit_at(0, TEN, transaction=None, hardware_max_amps=32).source.kind == (
        "hardware"
    )
    store.set_guard(1, None)
    assert store.guard(1) is None
    assert store.limit_at(1, TEN, transaction=None, hardware_max_amps=32).amps == 20.0


def test_ties_local_before_the_guard_before_the_hardware() -> None:
    store = ChargingProfiles([1])
    store.set_guard(1, 16.0)
    limit = store.limit_at(1, TEN, transaction=None, hardware_max_amps=16)
    assert limit.source == GUARD  # the guard wins a tie with the hardware
    store.set_local(1, [LocalPeriod(TEN, amps=16)])
    assert store.limit_at(1, TEN, transaction=None, hardware_max_amps=16).source.kind == "local"
    store.set_guard(1, 0.0)
    assert store.limit_at(1, TEN, transaction=None, hardware_max_amps=16).amps == 0.0


def test_charge_point_max_shared_around_a_guarded_connector() -> None:
    """ChargePointMax 20 A for two connectors drawing; the guard holds connector 1 at 7 A, so
    the water filling leaves 13 A to connector 2."""
    store = ChargingProfiles([1, 2])
    store.install(profile(0, 1, PURPOSE_CHARGE_POINT_MAX, [(0, 20)]), None)
    store.set_guard(1, 7.0)
    running = TransactionContext(1, TEN)
    one = store.limit_at(
        1,
        TEN,
        transaction=running,
        hardware_max_amps=32,
        hardware_min_amps=6,
        shared_with={2: SharedConnector(running, 32, 6)},
    )
    two = store.limit_at(
        2,
        TEN,
        transaction=running,
        hardware_max_amps=32,
        hardware_min_amps=6,
        shared_with={1: SharedConnector(running, 32, 6)},
    )
    assert (one.amps, one.source) == (7.0, GUARD)
    assert (two.amps, two.source.kind) == (13.0, "charge_point_max")


@pytest.mark.parametrize(
    ("connector_id", "amps", "message"),
    [(0, 6.0, "connector 0"), (3, 6.0, "no connector 3"), (1, -1.0, ">= 0"), (1, math.nan, ">= 0")],
)
def test_bad_guard_limits_are_refused(connector_id: int, amps: float, message: str) -> None:
    store = ChargingProfiles([1, 2])
    with pytest.raises(ValueError, match=message):
        store.set_guard(connector_id, amps)


async def test_engine_writes_the_guard_limit_pauses_at_0_and_reports_it_to_the_csms(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    hardware = RecordingHardware()
    engine = await accepted_engine(csms, make_engine, hardware=hardware)
    engine.set_plugged(1, True)
    assert await engine.start_transaction(1, "TAG") == "started"
    await csms.wait_for("StartTransaction")
    await asyncio.sleep(0.05)
    assert hardware.calls[-2:] == [
        ("limit", (1, ChargingLimit(amps=32.0))),
        ("permitted", (1, True)),
    ]
    engine.set_site_guard_limits({1: 11.0})
    await asyncio.sleep(0.05)
    assert hardware.calls[-1] == ("limit", (1, ChargingLimit(amps=11.0)))
    assert engine.limit_in_force(1).source == GUARD
    answer = await csms.call(call.GetCompositeSchedule(connector_id=1, duration=60))
    assert answer.charging_schedule["charging_schedule_period"] == [
        {"start_period": 0, "limit": 11.0, "number_phases": 1}
    ]
    engine.set_site_guard_limits({1: 0.0})
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")
    assert hardware.calls[-1] == ("permitted", (1, False))
    assert engine.connectors[1].transaction is not None  # paused, not stopped
    engine.set_site_guard_limits({1: None})
    await asyncio.sleep(0.05)
    assert hardware.calls[-2:] == [
        ("limit", (1, ChargingLimit(amps=32.0))),
        ("permitted", (1, True)),
    ]
    with pytest.raises(ValueError, match="no connector 5"):
        engine.set_site_guard_limits({5: 6.0})


async def test_several_guard_limits_at_once_lowered_ones_first(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """The guard moves headroom from connector 2 to connector 1: connector 2 is told first,
    so the two never draw more than the guard allows together."""
    hardware = RecordingHardware()
    engine = await accepted_engine(csms, make_engine, hardware=hardware, number_of_connectors=2)
    engine.set_site_guard_limits({1: 8.0, 2: 12.0})
    for connector_id in (1, 2):
        engine.set_plugged(connector_id, True)
        assert await engine.start_transaction(connector_id, "TAG") == "started"
    await asyncio.sleep(0.1)
    before = len(hardware.calls)
    engine.set_site_guard_limits({1: 12.0, 2: 8.0})
    await asyncio.sleep(0.05)
    assert hardware.calls[before:] == [
        ("limit", (2, ChargingLimit(amps=8.0))),
        ("limit", (1, ChargingLimit(amps=12.0))),
    ]
    with pytest.raises(ValueError, match="no connector 3"):
        engine.set_site_guard_limits({1: 6.0, 3: 6.0})
    await asyncio.sleep(0.05)
    assert hardware.calls[-1] == ("limit", (1, ChargingLimit(amps=6.0)))  # it went out
