"""Smart-charging conformance (OCPP 1.6 edition 2, section numbers in every test name).

ChargePointMaxProfile shared by the connectors (3.13.1), GetCompositeSchedule bounded
(5.7, 6.22, 7.13), TxProfile transactionId (7.8, 5.11), one TxDefault stack for connector 0 and
the connector (3.13.2), numberPhases in every composite period (7.14), the end instant of the
window (5.7). Every expected value is worked out by hand in the comments; none is produced
by the code under test (one seeded random test checks invariants of the split only).
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
from ocpp.v16 import call

from custom_components.ocpp_cp.engine import ChargePointEngine, ConnectionState, EvState
from custom_components.ocpp_cp.engine.charging_limits import (
    COMPOSITE_MAX_SECONDS,
    Electrical,
    LimitSource,
    share_amps,
)
from custom_components.ocpp_cp.engine.charging_profile import (
    PURPOSE_CHARGE_POINT_MAX,
    PURPOSE_TX,
    PURPOSE_TX_DEFAULT,
    LocalPeriod,
    ProfileError,
    SharedConnector,
    TransactionContext,
)
from custom_components.ocpp_cp.engine.smart_charging import ChargingProfiles, ProfileLimits
from tests.csms import TestCsms

from .conftest import EngineFactory, RecordingHardware
from .test_smart_charging import (
    CP_MAX,
    HARDWARE,
    LOCAL,
    TX_DEFAULT,
    check_composite_schema,
    make,
    schedule_rows,
    z,
)

TEN = z("06-01T10:00")
RUNNING = TransactionContext(7, z("06-01T09:00"))


def drawing(*connector_ids: int, minimum: float | None = None) -> dict[int, SharedConnector]:
    """Other connectors drawing, each with a transaction, 32 A hardware and ``minimum``."""
    return {cid: SharedConnector(RUNNING, 32.0, minimum) for cid in connector_ids}


def cp_max_store(amps: float, connectors: int = 2, **kwargs: Any) -> ChargingProfiles:
    store = ChargingProfiles(range(1, connectors + 1), **kwargs)
    store.install(make(0, 1, PURPOSE_CHARGE_POINT_MAX, [(0, amps)], start=z("06-01T08:00")), None)
    return store


def shared_amps(
    store: ChargingProfiles,
    connector_id: int,
    others: dict[int, SharedConnector],
    minimum: float | None = None,
) -> float:
    limit = store.limit_at(
        connector_id,
        TEN,
        transaction=RUNNING,
        hardware_max_amps=32,
        hardware_min_amps=minimum,
        shared_with=others,
    )
    return limit.amps


# --------------------------------------------------------------------------------------------
# 3.13.1: ChargePointMaxProfile is shared by all connectors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pool", "demands", "shares"),
    [
        (10.0, [(32.0, 0.0), (32.0, 0.0)], [5.0, 5.0]),  # equal split
        (20.0, [(8.0, 6.0), (32.0, 6.0)], [8.0, 12.0]),  # 8 A own limit: the rest to the other
        (10.0, [(32.0, 6.0), (32.0, 6.0)], [10.0, 0.0]),  # 5 < 6: one gets it all, one pauses
        (12.0, [(32.0, 6.0), (32.0, 6.0)], [6.0, 6.0]),  # both minimums fit exactly
        (13.0, [(32.0, 6.0), (32.0, 6.0)], [6.5, 6.5]),
        (16.0, [(32.0, 6.0)] * 3, [8.0, 8.0, 0.0]),  # 3 x 6 = 18 > 16: two of three
        (20.0, [(32.0, 6.0)] * 3, [6.666, 6.666, 6.666]),  # 20 / 3 cut to whole mA
        (12.0, [(32.0, 10.0), (32.0, 6.0)], [12.0, 0.0]),  # 10 + 6 > 12: connector order
        (8.0, [(32.0, 10.0), (32.0, 6.0)], [0.0, 8.0]),  # 10 > 8: the next one that fits
        (0.0, [(32.0, 0.0), (32.0, 0.0)], [0.0, 0.0]),
        (64.0, [(16.0, 6.0), (20.0, 6.0)], [16.0, 20.0]),  # enough for both own limits
        (4.0, [(32.0, 6.0)], [4.0]),  # alone below its minimum: what is left, so it pauses
        (9.0, [(32.0, 6.0), (32.0, 6.0), (32.0, 0.0)], [6.0, 0.0, 3.0]),  # no minimum: fits
        # minimums 8 + 6 fit into 15, + 2 does not, + 0 does, + 8 does not; 8 + 6 + L = 15
        (15.0, [(14.0, 8.0), (20.0, 6.0), (10.0, 2.0), (27.0, 0.0), (20.0, 8.0)], [8, 6, 0, 1, 0]),
    ],
)
def test_share_amps_3_13_1(
    pool: float, demands: list[tuple[float, float]], shares: list[float]
) -> None:
    assert share_amps(pool, demands) == shares
    assert sum(shares) <= pool


def test_shares_never_add_up_to_more_than_the_maximum_3_13_1() -> None:
    """Seeded random cases: the sum stays within the pool, nobody above its own limit, and the
    connectors neither at their own limit nor at their minimum all get the same share."""
    rng = random.Random(3131)
    for _ in range(3000):
        pool = rng.choice([0.0, float(rng.randint(1, 64)), rng.uniform(0, 100)])
        demands = []
        for _ in range(rng.randint(1, 5)):
            low = rng.choice([0.0, 6.0, float(rng.randint(0, 10))])
            demands.append((max(low, rng.uniform(0.1, 40)), low))
        shares = share_amps(pool, demands)
        assert sum(shares) <= pool + 1e-9, (pool, demands, shares)
        assert all(0 <= share <= own for share, (own, _) in zip(shares, demands, strict=True))
        free = [
            share for share, (own, low) in zip(shares, demands, strict=True) if low < share < own
        ]
        assert not free or max(free) - min(free) < 1e-9, (pool, demands, shares)


def test_charge_point_max_is_split_equally_between_two_charging_connectors_3_13_1() -> None:
    store = cp_max_store(10)
    assert shared_amps(store, 1, drawing(2)) == 5.0
    assert shared_amps(store, 2, drawing(1)) == 5.0
    limit = store.limit_at(
        1, TEN, transaction=RUNNING, hardware_max_amps=32, shared_with=drawing(2)
    )
    assert limit.source == LimitSource(CP_MAX, 1, 0, 0)
    # Alone (nobody else drawing), the connector may take all of it.
    assert shared_amps(store, 1, {}) == 10.0
    # Connector 0 is the charge point as a whole: the total.
    assert store.limit_at(0, TEN, transaction=None, hardware_max_amps=32).amps == 10.0


def test_own_limit_below_the_share_leaves_the_rest_to_the_other_3_13_1() -> None:
    store = cp_max_store(20)
    store.install(make(1, 2, PURPOSE_TX_DEFAULT, [(0, 8)], start=z("06-01T08:00")), None)
    # Equal share 10; connector 1 stops at its TxDefault 8 A, connector 2 gets 20 - 8 = 12.
    limit_1 = store.limit_at(
        1, TEN, transaction=RUNNING, hardware_max_amps=32, shared_with=drawing(2)
    )
    assert (limit_1.amps, limit_1.source.kind) == (8.0, TX_DEFAULT)
    limit_2 = store.limit_at(
        2, TEN, transaction=RUNNING, hardware_max_amps=32, shared_with=drawing(1)
    )
    assert (limit_2.amps, limit_2.source.kind) == (12.0, CP_MAX)


def test_below_the_hardware_minimum_one_connector_gets_it_all_3_13_1() -> None:
    """10 A, minimum 6 A: 5 A each would pause both, 6 A + 0 A would waste 4 A. Connector 1
    (the lower id) gets all 10 A, connector 2 gets what is left, 0 A, and pauses."""
    store = cp_max_store(10)
    assert shared_amps(store, 1, drawing(2, minimum=6), minimum=6) == 10.0
    assert shared_amps(store, 2, drawing(1, minimum=6), minimum=6) == 0.0
    store.install(make(0, 1, PURPOSE_CHARGE_POINT_MAX, [(0, 14)], start=z("06-01T08:00")), None)
    assert shared_amps(store, 1, drawing(2, minimum=6), minimum=6) == 7.0
    assert shared_amps(store, 2, drawing(1, minimum=6), minimum=6) == 7.0


def test_a_connector_paused_by_its_own_profile_takes_no_share_3_13_1() -> None:
    """evcc pauses connector 2 with a TxDefault of 0 A from 11:00 to 12:00: connector 1 has
    the whole 10 A meanwhile, 5 A before and after."""
    store = cp_max_store(10)
    store.install(
        make(2, 2, PURPOSE_TX_DEFAULT, [(0, 0)], stack=1, start=z("06-01T11:00"), duration=3600),
        None,
    )
    segments = store.schedule(
        1, TEN, 3 * 3600, transaction=RUNNING, hardware_max_amps=32, shared_with=drawing(2)
    )
    assert [(s.start, s.end, s.amps, s.source.kind) for s in segments] == [
        (z("06-01T10:00"), z("06-01T11:00"), 5.0, CP_MAX),
        (z("06-01T11:00"), z("06-01T12:00"), 10.0, CP_MAX),  # connector 2 takes no share
        (z("06-01T12:00"), z("06-01T13:00"), 5.0, CP_MAX),
    ]
    paused = store.schedule(
        2, TEN, 3 * 3600, transaction=RUNNING, hardware_max_amps=32, shared_with=drawing(1)
    )
    assert [(s.start, s.amps, s.source.kind) for s in paused] == [
        (z("06-01T10:00"), 5.0, CP_MAX),
        (z("06-01T11:00"), 0.0, TX_DEFAULT),  # its own 0 A
        (z("06-01T12:00"), 5.0, CP_MAX),
    ]
    limit = store.limit_at(
        1, TEN, transaction=RUNNING, hardware_max_amps=32, shared_with=drawing(2)
    )
    assert (limit.amps, limit.next_change) == (5.0, z("06-01T11:00"))  # the other's change


def test_composite_of_a_shared_connector_and_of_connector_0_3_13_1() -> None:
    """ChargePointMax 10 A until 12:00, then 16 A; two connectors drawing."""
    store = ChargingProfiles([1, 2], electrical=Electrical(230.0, 3))
    store.install(make(0, 1, PURPOSE_CHARGE_POINT_MAX, [(0, 10), (7200, 16)], start=TEN), None)
    shared = store.composite(
        1, TEN, 4 * 3600, "A", transaction=RUNNING, hardware_max_amps=32, shared_with=drawing(2)
    )
    assert shared["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 5.0, "numberPhases": 3},
        {"startPeriod": 7200, "limit": 8.0, "numberPhases": 3},
    ]
    total = store.composite(0, TEN, 4 * 3600, "W", transaction=None, hardware_max_amps=32)
    assert total["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 6900.0, "numberPhases": 3},  # 10 A x 230 V x 3
        {"startPeriod": 7200, "limit": 11040.0, "numberPhases": 3},  # 16 A x 230 V x 3
    ]
    check_composite_schema(shared)
    check_composite_schema(total)


# --------------------------------------------------------------------------------------------
# 3.13.2: TxDefaultProfiles on connector 0 and on the connector are one stack
# --------------------------------------------------------------------------------------------


def test_tx_default_on_connector_0_with_a_higher_stack_level_wins_3_13_2() -> None:
    store = ChargingProfiles([1])
    store.install(make(1, 1, PURPOSE_TX_DEFAULT, [(0, 16)], stack=1, start=z("06-01T08:00")), None)
    store.install(make(0, 2, PURPOSE_TX_DEFAULT, [(0, 8)], stack=2, start=TEN, duration=3600), None)
    store.install(make(0, 3, PURPOSE_TX_DEFAULT, [(0, 20)], stack=0, start=z("06-01T08:00")), None)
    assert schedule_rows(store, 1, z("06-01T09:00"), 3) == [
        (z("06-01T09:00"), z("06-01T10:00"), 16.0, None, TX_DEFAULT, 1),  # 1 beats 0's level 0
        (z("06-01T10:00"), z("06-01T11:00"), 8.0, None, TX_DEFAULT, 2),  # 0's level 2 beats 1
        (z("06-01T11:00"), z("06-01T12:00"), 16.0, None, TX_DEFAULT, 1),  # gap filled below
    ]


def test_tx_default_at_the_same_stack_level_the_connectors_own_wins_3_13_2() -> None:
    store = ChargingProfiles([1, 2])
    store.install(make(0, 1, PURPOSE_TX_DEFAULT, [(0, 10)], stack=3, start=TEN), None)
    store.install(make(1, 2, PURPOSE_TX_DEFAULT, [(0, 20)], stack=3, start=TEN), None)
    limit = store.limit_at(1, TEN, transaction=None, hardware_max_amps=32)
    assert (limit.amps, limit.source) == (20.0, LimitSource(TX_DEFAULT, 2, 3, 1))
    other = store.limit_at(2, TEN, transaction=None, hardware_max_amps=32)
    assert (other.amps, other.source) == (10.0, LimitSource(TX_DEFAULT, 1, 3, 0))


# --------------------------------------------------------------------------------------------
# 7.8 / 5.11: TxProfile transactionId
# --------------------------------------------------------------------------------------------


def test_tx_profile_transaction_id_must_be_the_running_one_7_8() -> None:
    store = ChargingProfiles([1])
    with pytest.raises(ProfileError, match="not the running transaction 7"):
        store.install(make(1, 1, PURPOSE_TX, [(0, 6)], transaction_id=8), RUNNING)
    store.install(make(1, 1, PURPOSE_TX, [(0, 6)], transaction_id=7), RUNNING)
    store.install(make(1, 2, PURPOSE_TX, [(0, 7)], stack=1), RUNNING)  # none named: accepted
    assert [p.profile_id for p in store.profiles] == [1, 2]


def test_tx_profile_naming_a_transaction_before_its_id_is_known_is_rejected_7_8() -> None:
    store = ChargingProfiles([1])
    unconfirmed = TransactionContext(None, z("06-01T09:00"))
    with pytest.raises(ProfileError, match="no id yet"):
        store.install(make(1, 1, PURPOSE_TX, [(0, 6)], transaction_id=1), unconfirmed)
    assert store.profiles == ()
    store.install(make(1, 1, PURPOSE_TX, [(0, 6)]), unconfirmed)
    assert [p.profile_id for p in store.profiles] == [1]


# --------------------------------------------------------------------------------------------
# 5.7 / 7.13 / 7.14: GetCompositeSchedule bounded, numberPhases, the end instant
# --------------------------------------------------------------------------------------------


def test_composite_rejects_a_negative_duration_5_7() -> None:
    store = ChargingProfiles([1])
    with pytest.raises(ValueError, match="negative"):
        store.composite(1, TEN, -1, "A", transaction=None, hardware_max_amps=32)


def busy_store() -> ChargingProfiles:
    """A Daily ChargePointMax with 24 hourly periods alternating 10 A / 12 A."""
    store = ChargingProfiles([1], electrical=Electrical(230.0, 3))
    store.install(
        make(
            0,
            1,
            PURPOSE_CHARGE_POINT_MAX,
            [(hour * 3600, 10 + 2 * (hour % 2)) for hour in range(24)],
            kind="Recurring",
            recurrency="Daily",
            start=z("06-01T00:00"),
        ),
        None,
    )
    return store


@pytest.mark.parametrize("duration", [10**10, 1_200_000_000_000])
async def test_a_huge_duration_is_answered_at_once_and_bounded_5_7(duration: int) -> None:
    """A change every hour: 24 periods cover 0..23 h, the 25th starts at 24 h = 86400 s."""
    store = busy_store()
    # "At once": a period-by-period walk of such a duration would take hours, so a bound of a
    # few seconds proves it and a loaded machine cannot trip it.
    async with asyncio.timeout(5):
        schedule = await asyncio.to_thread(
            store.composite, 1, TEN, duration, "A", transaction=None, hardware_max_amps=32
        )
    periods = schedule["chargingSchedulePeriod"]
    assert len(periods) == 24  # ChargingScheduleMaxPeriods
    assert schedule["duration"] == 86400
    assert periods[0] == {"startPeriod": 0, "limit": 10.0, "numberPhases": 3}  # hour 10: even
    assert periods[23] == {"startPeriod": 82800, "limit": 12.0, "numberPhases": 3}  # hour 9
    check_composite_schema(schedule)


def test_a_long_duration_is_capped_at_two_days_5_7() -> None:
    store = ChargingProfiles([1])
    schedule = store.composite(1, TEN, 10**10, "A", transaction=None, hardware_max_amps=32)
    assert COMPOSITE_MAX_SECONDS == 2 * 86400
    assert schedule["duration"] == 172800
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 32.0, "numberPhases": 1}
    ]


def test_periods_are_cut_to_charging_schedule_max_periods_7_13() -> None:
    """ChargingScheduleMaxPeriods 3. From 09:50: hardware 32 A (0 s), 10 A (600 s), 12 A
    (1200 s), 14 A (1800 s), hardware again (2400 s): five periods, the first three kept,
    ``duration`` = the start of the fourth = 1800 s."""
    store = ChargingProfiles([1], limits=ProfileLimits(max_periods=3))
    store.install(
        make(1, 1, PURPOSE_TX_DEFAULT, [(0, 10), (600, 12), (1200, 14)], start=TEN, duration=1800),
        None,
    )
    schedule = store.composite(
        1, z("06-01T09:50"), 3600, "A", transaction=None, hardware_max_amps=32
    )
    assert schedule["duration"] == 1800
    assert [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]] == [
        (0, 32.0),
        (600, 10.0),
        (1200, 12.0),
    ]


def test_every_period_carries_number_phases_7_14() -> None:
    """Three-phase charger: local and hardware periods say 3 (libocpp's default), a profile
    period keeps its own numberPhases."""
    store = ChargingProfiles([1], electrical=Electrical(230.0, 3))
    store.install(make(1, 1, PURPOSE_TX_DEFAULT, [(0, 10, 1)], start=z("06-01T10:10")), None)
    store.set_local(1, [LocalPeriod(TEN, amps=16), LocalPeriod(z("06-01T10:05"))])
    schedule = store.composite(1, TEN, 1200, "A", transaction=None, hardware_max_amps=20)
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},  # local
        {"startPeriod": 300, "limit": 20.0, "numberPhases": 3},  # hardware
        {"startPeriod": 600, "limit": 10.0, "numberPhases": 1},  # the profile's
    ]
    sources = [
        s.source.kind for s in store.schedule(1, TEN, 1200, transaction=None, hardware_max_amps=20)
    ]
    assert sources == [LOCAL, HARDWARE, TX_DEFAULT]
    check_composite_schema(schedule)


def test_a_period_starting_exactly_at_the_end_is_included_5_7() -> None:
    """Requested at 10:00:00.6 for 10 s: startSchedule 10:00:00, the window ends at 10:00:10.
    A change at 10:00:10 is reported (startPeriod 10); one at 10:00:10.5 is not."""
    store = ChargingProfiles([1])
    store.install(make(1, 1, PURPOSE_TX_DEFAULT, [(0, 16), (10, 8)], start=TEN), None)
    requested = TEN + timedelta(milliseconds=600)
    schedule = store.composite(1, requested, 10, "A", transaction=None, hardware_max_amps=32)
    assert schedule["startSchedule"] == "2026-06-01T10:00:00Z"
    assert schedule["duration"] == 10
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 1},
        {"startPeriod": 10, "limit": 8.0, "numberPhases": 1},
    ]
    later = TEN + timedelta(milliseconds=500)
    store.install(make(1, 1, PURPOSE_TX_DEFAULT, [(0, 16), (10, 8)], start=later), None)
    schedule = store.composite(1, requested, 10, "A", transaction=None, hardware_max_amps=32)
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 1}
    ]


# --------------------------------------------------------------------------------------------
# The engine against a real CSMS
# --------------------------------------------------------------------------------------------


async def two_connector_engine(
    csms: TestCsms, make_engine: EngineFactory, hardware: RecordingHardware, **overrides: Any
) -> ChargePointEngine:
    engine = make_engine(csms.url, hardware=hardware, number_of_connectors=2, **overrides)
    await engine.start()
    async with asyncio.timeout(15):
        while engine.state != ConnectionState.ACCEPTED:
            await asyncio.sleep(0.01)
    for connector_id in (0, 1, 2):
        await csms.wait_for("StatusNotification", lambda p, c=connector_id: p["connector_id"] == c)
    return engine


def profile_body(profile_id: int, purpose: str, amps: float, **extra: Any) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": extra.pop("stack_level", 0),
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": "2026-01-01T00:00:00Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
        },
        **extra,
    }


async def set_profile(csms: TestCsms, connector_id: int, body: dict[str, Any]) -> str:
    result = await csms.call(
        call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=body)
    )
    return str(result.status)


async def start_charging(engine: ChargePointEngine, csms: TestCsms, connector_id: int) -> None:
    engine.set_plugged(connector_id, True)
    engine.set_ev_state(connector_id, EvState.CHARGING)
    assert await engine.start_transaction(connector_id, f"TAG{connector_id}") == "started"
    await csms.wait_for("StartTransaction", lambda p: p["connector_id"] == connector_id)


class Outputs:
    """What the hardware was last told, and a check that the permitted limits never sum to
    more than ``cap`` at any point in the sequence of calls."""

    def __init__(self, hardware: RecordingHardware) -> None:
        self.hardware = hardware

    def last(self) -> dict[int, tuple[bool, float]]:
        """Per connector: (permitted, amps of the last limit written; 0 if none)."""
        permitted: dict[int, bool] = {}
        limit: dict[int, float] = {}
        for kind, value in self.hardware.calls:
            if kind == "permitted":
                permitted[value[0]] = value[1]
            elif kind == "limit":
                limit[value[0]] = value[1].amps
        return {cid: (permitted.get(cid, False), limit.get(cid, 0.0)) for cid in (1, 2)}

    def check_cap(self, cap: float, since: int) -> None:
        permitted: dict[int, bool] = {}
        limit: dict[int, float] = {}
        for index, (kind, value) in enumerate(self.hardware.calls):
            if kind == "permitted":
                permitted[value[0]] = value[1]
            elif kind == "limit":
                limit[value[0]] = value[1].amps
            total = sum(limit.get(cid, 0.0) for cid, on in permitted.items() if on)
            assert index < since or total <= cap + 1e-9, (index, self.hardware.calls)

    async def settled(self) -> dict[int, tuple[bool, float]]:
        await asyncio.sleep(0.05)  # the outputs are written from the engine's own tasks
        return self.last()


async def test_two_connectors_share_a_10_a_charge_point_max_profile_3_13_1(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    hardware = RecordingHardware()
    engine = await two_connector_engine(csms, make_engine, hardware)
    outputs = Outputs(hardware)
    assert await set_profile(csms, 0, profile_body(1, PURPOSE_CHARGE_POINT_MAX, 10)) == "Accepted"
    await start_charging(engine, csms, 1)
    assert await outputs.settled() == {1: (True, 10.0), 2: (False, 0.0)}  # alone: all of it
    since = len(hardware.calls)
    await start_charging(engine, csms, 2)
    assert await outputs.settled() == {1: (True, 5.0), 2: (True, 5.0)}  # 5 A + 5 A = 10 A
    outputs.check_cap(10.0, since)  # connector 1 went down to 5 A before connector 2 began
    assert engine.limit_in_force(1).source.kind == CP_MAX

    composite = {}
    for connector_id in (0, 1, 2):
        answer = await csms.call(call.GetCompositeSchedule(connector_id=connector_id, duration=60))
        assert answer.status == "Accepted"
        composite[connector_id] = answer.charging_schedule["charging_schedule_period"]
    assert composite == {
        0: [{"start_period": 0, "limit": 10.0, "number_phases": 1}],  # the shared total
        1: [{"start_period": 0, "limit": 5.0, "number_phases": 1}],
        2: [{"start_period": 0, "limit": 5.0, "number_phases": 1}],
    }

    # evcc pauses connector 2 with a TxDefault of 0 A: connector 1 gets the whole 10 A.
    since, after = len(hardware.calls), len(csms.received)
    assert await set_profile(csms, 2, profile_body(2, PURPOSE_TX_DEFAULT, 0)) == "Accepted"
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 2 and p["status"] == "SuspendedEVSE",
        after=after,
    )
    assert await outputs.settled() == {1: (True, 10.0), 2: (False, 5.0)}
    outputs.check_cap(10.0, since)
    assert (await csms.call(call.ClearChargingProfile(id=2))).status == "Accepted"
    assert await outputs.settled() == {1: (True, 5.0), 2: (True, 5.0)}

    # Connector 2 stops: connector 1 gets the whole 10 A again.
    since = len(hardware.calls)
    assert engine.stop_transaction(2)
    await csms.wait_for("StopTransaction")
    assert await outputs.settled() == {1: (True, 10.0), 2: (False, 5.0)}
    outputs.check_cap(10.0, since)


async def test_below_the_hardware_minimum_one_connector_charges_and_one_pauses_3_13_1(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    """10 A, minimum 6 A on both: 5 A each is below the minimum. Connector 1 gets all 10 A,
    connector 2 is paused (SuspendedEVSE, transaction open) until connector 1 stops."""
    hardware = RecordingHardware()
    engine = await two_connector_engine(csms, make_engine, hardware)
    outputs = Outputs(hardware)
    engine.set_hardware_min(1, 6)
    engine.set_hardware_min(2, 6)
    assert await set_profile(csms, 0, profile_body(1, PURPOSE_CHARGE_POINT_MAX, 10)) == "Accepted"
    await start_charging(engine, csms, 1)
    await start_charging(engine, csms, 2)
    await csms.wait_for(
        "StatusNotification", lambda p: p["connector_id"] == 2 and p["status"] == "SuspendedEVSE"
    )
    assert await outputs.settled() == {1: (True, 10.0), 2: (False, 0.0)}
    outputs.check_cap(10.0, 0)
    assert engine.connectors[2].transaction is not None
    answer = await csms.call(call.GetCompositeSchedule(connector_id=2, duration=60))
    assert answer.charging_schedule["charging_schedule_period"] == [
        {"start_period": 0, "limit": 0.0, "number_phases": 1}
    ]

    after = len(csms.received)
    assert engine.stop_transaction(1)
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["connector_id"] == 2 and p["status"] == "Charging",
        after=after,
    )
    assert await outputs.settled() == {1: (False, 10.0), 2: (True, 10.0)}
    outputs.check_cap(10.0, 0)
    stop = await csms.wait_for("StopTransaction")
    assert stop["transaction_id"] == 1
    assert len(csms.actions("StopTransaction")) == 1  # connector 2 was paused, never stopped


async def test_get_composite_schedule_bounds_over_the_wire_5_7(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await two_connector_engine(csms, make_engine, RecordingHardware())
    answer = await csms.call(call.GetCompositeSchedule(connector_id=1, duration=-1))
    assert answer.status == "Rejected"
    for duration in (10**10, 1_200_000_000_000):
        async with asyncio.timeout(5):  # at once (a walk would take hours), even when loaded
            answer = await csms.call(call.GetCompositeSchedule(connector_id=1, duration=duration))
        assert answer.status == "Accepted"
        assert answer.charging_schedule["duration"] == 172800
        assert len(answer.charging_schedule["charging_schedule_period"]) == 1
    assert engine.state == ConnectionState.ACCEPTED


async def test_tx_profile_transaction_id_in_the_engine_7_8(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await two_connector_engine(csms, make_engine, RecordingHardware())
    # Offline, so StartTransaction.conf cannot come: the transaction has no id yet.
    allow = call.ChangeConfiguration(key="AllowOfflineTxForUnknownId", value="true")
    assert (await csms.call(allow)).status == "Accepted"
    engine.go_offline()
    async with asyncio.timeout(15):
        while engine.state == ConnectionState.ACCEPTED:
            await asyncio.sleep(0.01)
    engine.set_plugged(1, True)
    assert await engine.start_transaction(1, "TAG") == "started"
    limits = engine.services.limits
    named = profile_body(1, PURPOSE_TX, 12, transactionId=1, stack_level=2)
    refused = await limits.set_profile(1, named)
    assert refused is not None and "no id yet" in refused  # SetChargingProfile -> Rejected
    assert await limits.set_profile(1, profile_body(2, PURPOSE_TX, 14)) is None  # Accepted
    engine.go_online()
    await csms.wait_for("StartTransaction")
    async with asyncio.timeout(15):
        while engine.connectors[1].transaction.transaction_id is None:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
    assert engine.connectors[1].transaction.transaction_id == 1  # type: ignore[union-attr]
    wrong = profile_body(3, PURPOSE_TX, 10, transactionId=2, stack_level=1)
    assert await set_profile(csms, 1, wrong) == "Rejected"
    assert await set_profile(csms, 1, named) == "Accepted"
    assert [p.profile_id for p in engine.profiles.profiles] == [2, 1]


async def test_remote_start_profile_naming_a_transaction_is_rejected_5_11(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await two_connector_engine(csms, make_engine, RecordingHardware())
    engine.set_plugged(1, True)
    body = profile_body(7, PURPOSE_TX, 14, transactionId=5)
    result = await csms.call(
        call.RemoteStartTransaction(id_tag="CSMS", connector_id=1, charging_profile=body)
    )
    assert result.status == "Rejected"
    assert engine.connectors[1].transaction is None
    assert engine.profiles.profiles == ()
