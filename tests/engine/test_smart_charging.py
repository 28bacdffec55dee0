"""Charging-profile store and composite schedules, against hand-computed expectations.

Every expected schedule below is written out by hand from the profiles in the test; none is
produced by the code under test.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.ocpp_cp.engine.charging_limits import (
    Electrical,
    LimitInForce,
    LimitSegment,
    LimitSource,
)
from custom_components.ocpp_cp.engine.charging_profile import (
    PURPOSE_CHARGE_POINT_MAX,
    PURPOSE_TX,
    PURPOSE_TX_DEFAULT,
    ChargingProfile,
    LocalPeriod,
    ProfileError,
    SchedulePeriod,
    TransactionContext,
)
from custom_components.ocpp_cp.engine.ocpp16.validation import validate
from custom_components.ocpp_cp.engine.smart_charging import ChargingProfiles, ProfileLimits

BERLIN = ZoneInfo("Europe/Berlin")
CP_MAX = "charge_point_max"
TX = "tx_profile"
TX_DEFAULT = "tx_default_profile"
LOCAL = "local"
HARDWARE = "hardware"
RECEIVED = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

type Row = tuple[datetime, datetime, float, int | None, str, int | None]


def z(text: str) -> datetime:
    """'06-01T10:00' -> 2026-06-01 10:00 UTC (keeps the expectations short)."""
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=UTC)


def wire(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float] | tuple[int, float, int]],
    *,
    stack: int = 0,
    kind: str = "Absolute",
    start: datetime | None = None,
    duration: int | None = None,
    unit: str = "A",
    recurrency: str | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    transaction_id: int | None = None,
) -> dict[str, Any]:
    """A csChargingProfiles dict as a CSMS sends it."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1]} | ({"numberPhases": p[2]} if len(p) > 2 else {})
            for p in periods
        ],
    }
    if start is not None:
        schedule["startSchedule"] = start.isoformat()
    if duration is not None:
        schedule["duration"] = duration
    data: dict[str, Any] = {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if recurrency is not None:
        data["recurrencyKind"] = recurrency
    if valid_from is not None:
        data["validFrom"] = valid_from.isoformat()
    if valid_to is not None:
        data["validTo"] = valid_to.isoformat()
    if transaction_id is not None:
        data["transactionId"] = transaction_id
    return data


def make(connector_id: int, *args: Any, **kwargs: Any) -> ChargingProfile:
    return ChargingProfile.from_ocpp(connector_id, wire(*args, **kwargs), received_at=RECEIVED)


def rows(segments: list[LimitSegment]) -> list[Row]:
    return [
        (s.start, s.end, round(s.amps, 6), s.number_phases, s.source.kind, s.source.profile_id)
        for s in segments
    ]


def schedule_rows(
    store: ChargingProfiles,
    connector_id: int,
    start: datetime,
    hours: float,
    *,
    transaction: TransactionContext | None = None,
    hardware: float = 32.0,
) -> list[Row]:
    segments = store.schedule(
        connector_id,
        start,
        int(hours * 3600),
        transaction=transaction,
        hardware_max_amps=hardware,
    )
    return rows(segments)


def check_composite_schema(schedule: dict[str, Any]) -> None:
    payload = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": schedule["startSchedule"],
        "chargingSchedule": schedule,
    }
    validate("GetCompositeSchedule", payload, response=True, inbound=False)


# --------------------------------------------------------------------------------------------
# Stacking of purposes and stack levels
# --------------------------------------------------------------------------------------------


def stacked_store() -> tuple[ChargingProfiles, TransactionContext]:
    store = ChargingProfiles([1, 2])
    transaction = TransactionContext(7, z("06-01T09:50"))
    store.install(
        make(0, 1, PURPOSE_CHARGE_POINT_MAX, [(0, 20), (3600, 10)], start=z("06-01T10:00")), None
    )
    store.install(make(0, 2, PURPOSE_TX_DEFAULT, [(0, 16)], start=z("06-01T10:00")), None)
    store.install(
        make(1, 3, PURPOSE_TX_DEFAULT, [(0, 12)], start=z("06-01T10:30"), duration=3600), None
    )
    store.install(
        make(1, 4, PURPOSE_TX, [(0, 6)], start=z("06-01T11:15"), duration=1800, transaction_id=7),
        transaction,
    )
    return store, transaction


def test_purposes_stack_charge_point_max_caps_tx_overrides_default() -> None:
    store, transaction = stacked_store()
    assert schedule_rows(store, 1, z("06-01T10:00"), 2, transaction=transaction) == [
        (z("06-01T10:00"), z("06-01T10:30"), 16.0, None, TX_DEFAULT, 2),  # TxDefault on 0
        (z("06-01T10:30"), z("06-01T11:00"), 12.0, None, TX_DEFAULT, 3),  # connector's own
        (z("06-01T11:00"), z("06-01T11:15"), 10.0, None, CP_MAX, 1),  # max drops to 10
        (z("06-01T11:15"), z("06-01T11:45"), 6.0, None, TX, 4),  # TxProfile
        (z("06-01T11:45"), z("06-01T12:00"), 10.0, None, CP_MAX, 1),
    ]


def test_tx_profile_does_not_count_without_its_transaction() -> None:
    store, _ = stacked_store()
    expected = [
        (z("06-01T10:00"), z("06-01T10:30"), 16.0, None, TX_DEFAULT, 2),
        (z("06-01T10:30"), z("06-01T11:00"), 12.0, None, TX_DEFAULT, 3),
        (z("06-01T11:00"), z("06-01T12:00"), 10.0, None, CP_MAX, 1),
    ]
    assert schedule_rows(store, 1, z("06-01T10:00"), 2) == expected
    other = TransactionContext(8, z("06-01T09:50"))
    assert schedule_rows(store, 1, z("06-01T10:00"), 2, transaction=other) == expected


def test_other_connector_and_connector_zero() -> None:
    store, transaction = stacked_store()
    assert schedule_rows(store, 2, z("06-01T10:00"), 2, transaction=transaction) == [
        (z("06-01T10:00"), z("06-01T11:00"), 16.0, None, TX_DEFAULT, 2),
        (z("06-01T11:00"), z("06-01T12:00"), 10.0, None, CP_MAX, 1),
    ]
    # Connector 0: ChargePointMax, local(0) and hardware only.
    assert schedule_rows(store, 0, z("06-01T09:30"), 2.5, hardware=20) == [
        (z("06-01T09:30"), z("06-01T10:00"), 20.0, None, HARDWARE, None),
        (z("06-01T10:00"), z("06-01T11:00"), 20.0, None, CP_MAX, 1),  # tie: max wins
        (z("06-01T11:00"), z("06-01T12:00"), 10.0, None, CP_MAX, 1),
    ]


def test_ties_prefer_max_then_tx_default_then_local_then_hardware() -> None:
    store = ChargingProfiles([1])
    store.install(make(0, 1, PURPOSE_CHARGE_POINT_MAX, [(0, 16)], start=z("06-01T10:00")), None)
    store.install(make(1, 2, PURPOSE_TX_DEFAULT, [(0, 16)], start=z("06-01T10:00")), None)
    store.set_local(1, [LocalPeriod(z("06-01T10:00"), amps=16)])

    def source_at_ten() -> LimitSource:
        limit = store.limit_at(1, z("06-01T10:00"), transaction=None, hardware_max_amps=16)
        assert limit.amps == 16.0
        return limit.source

    assert source_at_ten() == LimitSource(CP_MAX, 1, 0, 0)
    store.clear(profile_id=1)
    assert source_at_ten() == LimitSource(TX_DEFAULT, 2, 0, 1)
    store.clear()
    assert source_at_ten() == LimitSource(LOCAL)
    store.set_local(1, [])
    assert source_at_ten() == LimitSource(HARDWARE)


def test_stack_levels_with_gaps_fall_back_to_the_level_below() -> None:
    store = ChargingProfiles([1])
    store.install(make(1, 10, PURPOSE_TX_DEFAULT, [(0, 16)], start=z("06-01T08:00")), None)
    store.install(
        make(
            1,
            11,
            PURPOSE_TX_DEFAULT,
            [(0, 8), (1800, 4)],
            stack=2,
            start=z("06-01T09:00"),
            duration=3600,
        ),
        None,
    )
    store.install(
        make(
            1,
            12,
            PURPOSE_TX_DEFAULT,
            [(0, 20)],
            stack=1,
            start=z("06-01T08:00"),
            valid_from=z("06-01T09:30"),
            valid_to=z("06-01T11:00"),
        ),
        None,
    )
    assert schedule_rows(store, 1, z("06-01T08:00"), 4) == [
        (z("06-01T08:00"), z("06-01T09:00"), 16.0, None, TX_DEFAULT, 10),  # level 2 not begun
        (z("06-01T09:00"), z("06-01T09:30"), 8.0, None, TX_DEFAULT, 11),
        (z("06-01T09:30"), z("06-01T10:00"), 4.0, None, TX_DEFAULT, 11),
        (z("06-01T10:00"), z("06-01T11:00"), 20.0, None, TX_DEFAULT, 12),  # higher, but level 1
        (z("06-01T11:00"), z("06-01T12:00"), 16.0, None, TX_DEFAULT, 10),
    ]


# --------------------------------------------------------------------------------------------
# Recurrence, DST, Relative, validity
# --------------------------------------------------------------------------------------------


def test_daily_recurrence_across_midnight() -> None:
    store = ChargingProfiles([1])
    store.install(
        make(
            0,
            1,
            PURPOSE_TX_DEFAULT,
            [(0, 6), (7200, 10), (28800, 16)],  # 22:00 6 A, 00:00 10 A, 06:00 16 A
            kind="Recurring",
            recurrency="Daily",
            start=z("06-01T22:00"),
        ),
        None,
    )
    assert schedule_rows(store, 1, z("06-02T20:00"), 8) == [
        (z("06-02T20:00"), z("06-02T22:00"), 16.0, None, TX_DEFAULT, 1),
        (z("06-02T22:00"), z("06-03T00:00"), 6.0, None, TX_DEFAULT, 1),
        (z("06-03T00:00"), z("06-03T04:00"), 10.0, None, TX_DEFAULT, 1),
    ]
    # No occurrence before startSchedule.
    assert schedule_rows(store, 1, z("06-01T20:00"), 6) == [
        (z("06-01T20:00"), z("06-01T22:00"), 32.0, None, HARDWARE, None),
        (z("06-01T22:00"), z("06-02T00:00"), 6.0, None, TX_DEFAULT, 1),
        (z("06-02T00:00"), z("06-02T02:00"), 10.0, None, TX_DEFAULT, 1),
    ]


def test_daily_recurrence_duration_ends_each_occurrence() -> None:
    store = ChargingProfiles([1])
    store.install(
        make(
            0,
            1,
            PURPOSE_TX_DEFAULT,
            [(0, 6), (7200, 10)],
            kind="Recurring",
            recurrency="Daily",
            start=z("06-01T22:00"),
            duration=5 * 3600,  # until 03:00
        ),
        None,
    )
    assert schedule_rows(store, 1, z("06-02T02:00"), 24) == [
        (z("06-02T02:00"), z("06-02T03:00"), 10.0, None, TX_DEFAULT, 1),
        (z("06-02T03:00"), z("06-02T22:00"), 32.0, None, HARDWARE, None),
        (z("06-02T22:00"), z("06-03T00:00"), 6.0, None, TX_DEFAULT, 1),
        (z("06-03T00:00"), z("06-03T02:00"), 10.0, None, TX_DEFAULT, 1),
    ]


def berlin_daily_store() -> ChargingProfiles:
    """22:00 local 6 A, 23:00 10 A, 00:00 16 A, and from 23 h after the start (21:00) 0 A."""
    store = ChargingProfiles([1], tz=BERLIN)
    store.install(
        make(
            0,
            1,
            PURPOSE_TX_DEFAULT,
            [(0, 6), (3600, 10), (7200, 16), (82800, 0)],
            kind="Recurring",
            recurrency="Daily",
            start=datetime(2026, 3, 20, 22, 0, tzinfo=BERLIN),
        ),
        None,
    )
    return store


def test_daily_recurrence_keeps_local_time_at_spring_forward() -> None:
    # 2026-03-29 02:00 CET -> 03:00 CEST: the cycle from 28 March 22:00 lasts 23 h, so the
    # 0 A period (23 h after the start) never comes that day.
    assert schedule_rows(berlin_daily_store(), 1, z("03-28T19:00"), 27) == [
        (z("03-28T19:00"), z("03-28T20:00"), 16.0, None, TX_DEFAULT, 1),
        (z("03-28T20:00"), z("03-28T21:00"), 0.0, None, TX_DEFAULT, 1),  # 21:00 CET
        (z("03-28T21:00"), z("03-28T22:00"), 6.0, None, TX_DEFAULT, 1),  # 22:00 CET
        (z("03-28T22:00"), z("03-28T23:00"), 10.0, None, TX_DEFAULT, 1),
        (z("03-28T23:00"), z("03-29T20:00"), 16.0, None, TX_DEFAULT, 1),
        (z("03-29T20:00"), z("03-29T21:00"), 6.0, None, TX_DEFAULT, 1),  # 22:00 CEST
        (z("03-29T21:00"), z("03-29T22:00"), 10.0, None, TX_DEFAULT, 1),
    ]


def test_daily_recurrence_keeps_local_time_at_fall_back() -> None:
    # 2026-10-25 03:00 CEST -> 02:00 CET: the cycle from 24 October 22:00 lasts 25 h, so the
    # 0 A period runs from 20:00 CET (23 h after the start) for 2 h.
    assert schedule_rows(berlin_daily_store(), 1, z("10-24T18:00"), 28) == [
        (z("10-24T18:00"), z("10-24T19:00"), 16.0, None, TX_DEFAULT, 1),
        (z("10-24T19:00"), z("10-24T20:00"), 0.0, None, TX_DEFAULT, 1),  # 21:00 CEST
        (z("10-24T20:00"), z("10-24T21:00"), 6.0, None, TX_DEFAULT, 1),  # 22:00 CEST
        (z("10-24T21:00"), z("10-24T22:00"), 10.0, None, TX_DEFAULT, 1),
        (z("10-24T22:00"), z("10-25T19:00"), 16.0, None, TX_DEFAULT, 1),
        (z("10-25T19:00"), z("10-25T21:00"), 0.0, None, TX_DEFAULT, 1),  # 20:00-22:00 CET
        (z("10-25T21:00"), z("10-25T22:00"), 6.0, None, TX_DEFAULT, 1),  # 22:00 CET
    ]


def berlin_weekly_store(start: datetime) -> ChargingProfiles:
    store = ChargingProfiles([1], tz=BERLIN)
    store.install(
        make(
            0,
            1,
            PURPOSE_TX_DEFAULT,
            [(0, 8), (3600, 16)],
            kind="Recurring",
            recurrency="Weekly",
            start=start,
        ),
        None,
    )
    return store


def test_weekly_recurrence_across_dst_changes() -> None:
    # Sundays 12:00 local, 8 A for an hour.
    spring = berlin_weekly_store(datetime(2026, 3, 22, 12, 0, tzinfo=BERLIN))
    assert schedule_rows(spring, 1, z("03-29T09:00"), 3) == [
        (z("03-29T09:00"), z("03-29T10:00"), 16.0, None, TX_DEFAULT, 1),
        (z("03-29T10:00"), z("03-29T11:00"), 8.0, None, TX_DEFAULT, 1),  # 12:00 CEST
        (z("03-29T11:00"), z("03-29T12:00"), 16.0, None, TX_DEFAULT, 1),
    ]
    autumn = berlin_weekly_store(datetime(2026, 10, 18, 12, 0, tzinfo=BERLIN))
    assert schedule_rows(autumn, 1, z("10-25T09:00"), 4) == [
        (z("10-25T09:00"), z("10-25T11:00"), 16.0, None, TX_DEFAULT, 1),
        (z("10-25T11:00"), z("10-25T12:00"), 8.0, None, TX_DEFAULT, 1),  # 12:00 CET
        (z("10-25T12:00"), z("10-25T13:00"), 16.0, None, TX_DEFAULT, 1),
    ]
    # Weekly, not daily: Saturday noon stays at 16 A.
    assert schedule_rows(autumn, 1, z("10-24T09:00"), 3) == [
        (z("10-24T09:00"), z("10-24T12:00"), 16.0, None, TX_DEFAULT, 1),
    ]


def test_relative_profile_runs_from_the_transaction_start() -> None:
    store = ChargingProfiles([1])
    transaction = TransactionContext(None, z("06-01T10:00"))
    store.install(make(0, 1, PURPOSE_TX_DEFAULT, [(0, 10)], start=z("06-01T08:00")), None)
    store.install(
        make(1, 2, PURPOSE_TX, [(0, 6), (1800, 16)], kind="Relative", duration=3600),
        transaction,  # the CSMS has not answered StartTransaction yet: no transactionId given
    )
    assert schedule_rows(store, 1, z("06-01T10:10"), 1, transaction=transaction) == [
        (z("06-01T10:10"), z("06-01T10:30"), 6.0, None, TX, 2),
        (z("06-01T10:30"), z("06-01T11:00"), 16.0, None, TX, 2),
        (z("06-01T11:00"), z("06-01T11:10"), 10.0, None, TX_DEFAULT, 1),
    ]


def test_relative_profile_without_transaction_starts_at_the_query() -> None:
    store = ChargingProfiles([1])
    store.install(
        make(1, 1, PURPOSE_TX_DEFAULT, [(0, 6), (1800, 16)], kind="Relative", duration=3600), None
    )
    limit = store.limit_at(1, z("06-01T10:10"), transaction=None, hardware_max_amps=32)
    assert limit == LimitInForce(6.0, None, LimitSource(TX_DEFAULT, 1, 0, 1), z("06-01T10:40"))
    assert schedule_rows(store, 1, z("06-01T12:00"), 1.5) == [
        (z("06-01T12:00"), z("06-01T12:30"), 6.0, None, TX_DEFAULT, 1),
        (z("06-01T12:30"), z("06-01T13:00"), 16.0, None, TX_DEFAULT, 1),
        (z("06-01T13:00"), z("06-01T13:30"), 32.0, None, HARDWARE, None),
    ]


def test_valid_from_and_valid_to_at_the_boundary_instants() -> None:
    store = ChargingProfiles([1])
    store.install(make(1, 1, PURPOSE_TX_DEFAULT, [(0, 16)], start=z("06-01T08:00")), None)
    store.install(
        make(
            1,
            2,
            PURPOSE_TX_DEFAULT,
            [(0, 8)],
            stack=1,
            start=z("06-01T08:00"),
            valid_from=z("06-01T10:00"),
            valid_to=z("06-01T11:00"),
        ),
        None,
    )

    def limit(at: datetime) -> LimitInForce:
        return store.limit_at(1, at, transaction=None, hardware_max_amps=32)

    tick = timedelta(microseconds=1)
    assert limit(z("06-01T10:00") - tick).amps == 16.0
    assert limit(z("06-01T10:00") - tick).next_change == z("06-01T10:00")
    assert limit(z("06-01T10:00")) == LimitInForce(
        8.0, None, LimitSource(TX_DEFAULT, 2, 1, 1), z("06-01T11:00")
    )
    assert limit(z("06-01T11:00") - tick).amps == 8.0
    assert limit(z("06-01T11:00")) == LimitInForce(
        16.0, None, LimitSource(TX_DEFAULT, 1, 0, 1), None
    )


# --------------------------------------------------------------------------------------------
# Units and phases
# --------------------------------------------------------------------------------------------


def test_electrical_conversions() -> None:
    three = Electrical(230.0, 3)
    one = Electrical(230.0, 1)
    assert three.phases_used(None) == 3
    assert three.phases_used(1) == 3  # it cannot switch to one phase: the power must hold
    assert one.phases_used(None) == 1
    assert one.phases_used(3) == 1
    assert three.to_amps(4140, "W", None) == 6.0
    assert three.to_amps(4140, "W", 1) == 6.0
    assert one.to_amps(4140, "W", 3) == 18.0
    assert three.to_amps(16, "A", 1) == 16.0
    assert three.to_watts(16, None) == 11040.0
    assert one.to_watts(16, None) == 3680.0
    with pytest.raises(ValueError, match="phases"):
        Electrical(230.0, 4)
    with pytest.raises(ValueError, match="voltage"):
        Electrical(0.0, 1)


def watt_store(phases: int) -> ChargingProfiles:
    store = ChargingProfiles([1], electrical=Electrical(230.0, phases))
    store.install(
        make(
            1,
            1,
            PURPOSE_TX_DEFAULT,
            [(0, 4140), (3600, 4140, 1), (7200, 4140, 3)],
            unit="W",
            start=z("06-01T10:00"),
        ),
        None,
    )
    return store


def test_watt_profile_on_three_and_one_phase_chargers() -> None:
    assert schedule_rows(watt_store(3), 1, z("06-01T10:00"), 3) == [
        (z("06-01T10:00"), z("06-01T11:00"), 6.0, None, TX_DEFAULT, 1),  # absent = 3 phases
        (z("06-01T11:00"), z("06-01T12:00"), 6.0, 1, TX_DEFAULT, 1),  # still 3 wired phases
        (z("06-01T12:00"), z("06-01T13:00"), 6.0, 3, TX_DEFAULT, 1),
    ]
    assert schedule_rows(watt_store(1), 1, z("06-01T10:00"), 3) == [
        (z("06-01T10:00"), z("06-01T11:00"), 18.0, None, TX_DEFAULT, 1),  # capped at 1 phase
        (z("06-01T11:00"), z("06-01T12:00"), 18.0, 1, TX_DEFAULT, 1),
        (z("06-01T12:00"), z("06-01T13:00"), 18.0, 3, TX_DEFAULT, 1),
    ]


def test_composite_in_amps_and_watts() -> None:
    amps = watt_store(3).composite(
        1, z("06-01T10:00"), 3 * 3600, "A", transaction=None, hardware_max_amps=32
    )
    assert amps == {
        "duration": 10800,
        "startSchedule": "2026-06-01T10:00:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 6.0, "numberPhases": 3},  # none given: the wired 3
            {"startPeriod": 3600, "limit": 6.0, "numberPhases": 1},
            {"startPeriod": 7200, "limit": 6.0, "numberPhases": 3},
        ],
    }
    watts = watt_store(3).composite(
        1, z("06-01T09:00"), 4 * 3600, "W", transaction=None, hardware_max_amps=32
    )
    assert watts["chargingRateUnit"] == "W"
    assert watts["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 22080.0, "numberPhases": 3},  # hardware 32 A x 230 V x 3
        {"startPeriod": 3600, "limit": 4140.0, "numberPhases": 3},
        {"startPeriod": 7200, "limit": 4140.0, "numberPhases": 1},
        {"startPeriod": 10800, "limit": 4140.0, "numberPhases": 3},
    ]
    one_phase = watt_store(1).composite(
        1, z("06-01T10:00"), 3600, "W", transaction=None, hardware_max_amps=32
    )
    # Wired for one phase: numberPhases 1 when none is given. The period with numberPhases 1
    # at 3600 s starts at the end instant (included) and merges: same value, same phases.
    assert one_phase["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 4140.0, "numberPhases": 1}
    ]
    for schedule in (amps, watts, one_phase):
        check_composite_schema(schedule)


def test_composite_of_an_amp_profile_in_watts_and_rounding() -> None:
    store = ChargingProfiles([1], electrical=Electrical(230.0, 3))
    store.install(
        make(1, 1, PURPOSE_TX_DEFAULT, [(0, 16), (600, 11000)], unit="A", start=z("06-01T10:00")),
        None,
    )
    store.install(
        make(1, 2, PURPOSE_TX_DEFAULT, [(0, 11000)], stack=1, unit="W", start=z("06-01T10:20")),
        None,
    )
    watts = store.composite(1, z("06-01T10:00"), 1800, "W", transaction=None, hardware_max_amps=32)
    assert watts["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 11040.0, "numberPhases": 3},  # 16 A x 230 V x 3
        {"startPeriod": 600, "limit": 22080.0, "numberPhases": 3},  # 11000 A, 32 A hardware
        {"startPeriod": 1200, "limit": 11000.0, "numberPhases": 3},
    ]
    amps = store.composite(1, z("06-01T10:00"), 1800, None, transaction=None, hardware_max_amps=32)
    assert amps["chargingRateUnit"] == "A"
    assert amps["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
        {"startPeriod": 600, "limit": 32.0, "numberPhases": 3},
        {"startPeriod": 1200, "limit": 15.9, "numberPhases": 3},  # 11000 / 690 = 15.94
    ]
    check_composite_schema(watts)
    check_composite_schema(amps)


def test_composite_whole_seconds_and_merging() -> None:
    store = ChargingProfiles([1])
    received = datetime(2026, 6, 1, 10, 0, 0, 400_000, tzinfo=UTC)
    # evcc style: Absolute without startSchedule = starts when received.
    evcc = ChargingProfile.from_ocpp(
        1,
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": PURPOSE_TX_DEFAULT,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}],
            },
        },
        received_at=received,
    )
    assert evcc.start_schedule == received
    store.install(evcc, None)
    start = datetime(2026, 6, 1, 9, 59, 59, 700_000, tzinfo=UTC)
    schedule = store.composite(1, start, 2, "A", transaction=None, hardware_max_amps=32)
    assert schedule == {
        "duration": 2,
        "startSchedule": "2026-06-01T09:59:59Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 32.0, "numberPhases": 1},  # wired for one phase
            {"startPeriod": 1, "limit": 6.0, "numberPhases": 1},  # the change at 10:00:00.4
        ],
    }
    # Two changes in one second: the last one wins.
    store.install(
        make(1, 2, PURPOSE_TX_DEFAULT, [(0, 8)], stack=1, start=received + timedelta(seconds=0.3)),
        None,
    )
    schedule = store.composite(1, z("06-01T10:00"), 5, "A", transaction=None, hardware_max_amps=32)
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 8.0, "numberPhases": 1}
    ]
    # Equal values merge across a change of source; zero duration still gives the limit.
    store.clear()
    store.install(make(0, 3, PURPOSE_CHARGE_POINT_MAX, [(0, 16)], start=z("06-01T10:00")), None)
    store.set_local(1, [LocalPeriod(z("06-01T09:00"), amps=16)])
    schedule = store.composite(
        1, z("06-01T09:30"), 3600, "A", transaction=None, hardware_max_amps=32
    )
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 1}
    ]
    schedule = store.composite(1, z("06-01T09:30"), 0, "W", transaction=None, hardware_max_amps=32)
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 3680.0, "numberPhases": 1}
    ]
    check_composite_schema(schedule)


def test_composite_of_a_busy_day_is_schema_valid() -> None:
    store = ChargingProfiles([1], electrical=Electrical(229.5, 3), tz=BERLIN)
    store.install(
        make(
            0,
            1,
            PURPOSE_CHARGE_POINT_MAX,
            [(i * 3600, 7000 + 333.3 * i) for i in range(24)],
            unit="W",
            kind="Recurring",
            recurrency="Daily",
            start=z("06-01T00:00"),
        ),
        None,
    )
    store.install(
        make(
            1,
            2,
            PURPOSE_TX_DEFAULT,
            [(i * 900, 6 + (i % 7) * 1.7, 1 + i % 3) for i in range(24)],
            start=z("06-02T11:00"),
        ),
        None,
    )
    schedule = store.composite(
        1, z("06-02T10:17:33"), 86400, "W", transaction=None, hardware_max_amps=31.7
    )
    # One period before 11:00 (2547 s after the start), then a change every 15 min: more than
    # ChargingScheduleMaxPeriods (24). The 25th would start at 2547 + 23 x 900 = 23247 s.
    assert len(schedule["chargingSchedulePeriod"]) == 24
    assert schedule["chargingSchedulePeriod"][-1]["startPeriod"] == 2547 + 22 * 900
    assert schedule["duration"] == 23247
    check_composite_schema(schedule)


# --------------------------------------------------------------------------------------------
# Local schedule and hardware, next_change, prune
# --------------------------------------------------------------------------------------------


def test_local_schedule_combined_with_profiles_and_hardware() -> None:
    store = ChargingProfiles([1], electrical=Electrical(230.0, 1))
    store.install(make(0, 1, PURPOSE_TX_DEFAULT, [(0, 16)], start=z("06-01T09:00")), None)
    store.set_local(
        1,
        [  # given out of order: kept sorted by start
            LocalPeriod(z("06-01T11:00")),  # no limit from 11:00
            LocalPeriod(z("06-01T10:00"), amps=20),
            LocalPeriod(z("06-01T10:30"), watts=2300),  # 10 A on one phase
            LocalPeriod(z("06-01T11:15"), amps=12, watts=2530),  # 11 A wins over 12 A
        ],
    )
    assert [p.start for p in store.local(1)] == [
        z("06-01T10:00"),
        z("06-01T10:30"),
        z("06-01T11:00"),
        z("06-01T11:15"),
    ]
    assert schedule_rows(store, 1, z("06-01T09:30"), 2, hardware=25) == [
        (z("06-01T09:30"), z("06-01T10:30"), 16.0, None, TX_DEFAULT, 1),
        (z("06-01T10:30"), z("06-01T11:00"), 10.0, None, LOCAL, None),
        (z("06-01T11:00"), z("06-01T11:15"), 16.0, None, TX_DEFAULT, 1),
        (z("06-01T11:15"), z("06-01T11:30"), 11.0, None, LOCAL, None),
    ]
    assert schedule_rows(store, 1, z("06-01T09:30"), 2, hardware=8) == [
        (z("06-01T09:30"), z("06-01T11:30"), 8.0, None, HARDWARE, None),
    ]
    assert store.local(0) == ()
    store.set_local(1, [])
    assert store.local(1) == ()


def test_local_schedule_on_connector_zero_only_limits_connector_zero() -> None:
    store = ChargingProfiles([1])
    store.set_local(0, [LocalPeriod(z("06-01T10:00"), amps=10)])
    at = z("06-01T10:00")
    assert store.limit_at(0, at, transaction=None, hardware_max_amps=32).amps == 10.0
    assert store.limit_at(1, at, transaction=None, hardware_max_amps=32).amps == 32.0


def test_local_period_validation() -> None:
    store = ChargingProfiles([1])
    with pytest.raises(ValueError, match="amps"):
        store.set_local(1, [LocalPeriod(z("06-01T10:00"), amps=-1)])
    with pytest.raises(ValueError, match="connector"):
        store.set_local(3, [LocalPeriod(z("06-01T10:00"), amps=1)])
    with pytest.raises(ValueError, match="hardware"):
        store.limit_at(1, z("06-01T10:00"), transaction=None, hardware_max_amps=float("inf"))


def test_next_change() -> None:
    store = ChargingProfiles([1], electrical=Electrical(230.0, 3))
    start = z("06-01T10:00")
    assert store.limit_at(1, start, transaction=None, hardware_max_amps=16) == LimitInForce(
        16.0, None, LimitSource(HARDWARE), None
    )
    # A change of numberPhases alone is not a change; the amps change 3 days later is.
    store.install(
        make(1, 1, PURPOSE_TX_DEFAULT, [(0, 10, 3), (3600, 10, 1), (3 * 86400, 6)], start=start),
        None,
    )
    assert store.limit_at(1, start, transaction=None, hardware_max_amps=16) == LimitInForce(
        10.0, 3, LimitSource(TX_DEFAULT, 1, 0, 1), z("06-04T10:00")
    )
    # Further than 8 days ahead: None.
    store.install(make(1, 1, PURPOSE_TX_DEFAULT, [(0, 10), (9 * 86400, 6)], start=start), None)
    assert store.limit_at(1, start, transaction=None, hardware_max_amps=16).next_change is None
    # Same amps, other source: a change.
    store.set_local(1, [LocalPeriod(z("06-01T12:00"), amps=10)])
    store.install(make(0, 2, PURPOSE_CHARGE_POINT_MAX, [(0, 10)], start=z("06-01T11:00")), None)
    limit = store.limit_at(1, start, transaction=None, hardware_max_amps=16)
    assert (limit.source.kind, limit.next_change) == (TX_DEFAULT, z("06-01T11:00"))


def test_prune_drops_expired_profiles_and_superseded_local_periods() -> None:
    store = ChargingProfiles([1])
    store.install(
        make(1, 1, PURPOSE_TX_DEFAULT, [(0, 8)], stack=1, valid_to=z("06-01T11:00")), None
    )
    store.install(make(1, 2, PURPOSE_TX_DEFAULT, [(0, 16)]), None)
    store.set_local(
        1,
        [
            LocalPeriod(z("06-01T09:00"), amps=6),
            LocalPeriod(z("06-01T10:00"), amps=7),
            LocalPeriod(z("06-01T12:00"), amps=8),
        ],
    )
    assert store.prune(z("06-01T10:30"))  # local 09:00 dropped, 10:00 is in force
    assert [p.profile_id for p in store.profiles] == [1, 2]
    assert [p.amps for p in store.local(1)] == [7, 8]
    assert not store.prune(z("06-01T10:59"))
    assert store.prune(z("06-01T11:00"))  # validTo reached
    assert [p.profile_id for p in store.profiles] == [2]
    assert [p.amps for p in store.local(1)] == [7, 8]


# --------------------------------------------------------------------------------------------
# The store: install rules, replacement, clearing
# --------------------------------------------------------------------------------------------


def test_tx_profile_needs_a_transaction_and_ends_with_it() -> None:
    store = ChargingProfiles([1, 2])
    transaction = TransactionContext(7, z("06-01T09:00"))
    with pytest.raises(ProfileError, match="running transaction"):
        store.install(make(1, 1, PURPOSE_TX, [(0, 6)]), None)
    with pytest.raises(ProfileError, match="not the running transaction"):
        store.install(make(1, 1, PURPOSE_TX, [(0, 6)], transaction_id=8), transaction)
    with pytest.raises(ProfileError, match="connector 0"):
        store.install(make(0, 1, PURPOSE_TX, [(0, 6)]), transaction)
    store.install(make(1, 1, PURPOSE_TX, [(0, 6)], transaction_id=7), transaction)
    store.install(make(2, 2, PURPOSE_TX, [(0, 6)]), transaction)  # no id given: fine
    store.install(make(1, 3, PURPOSE_TX_DEFAULT, [(0, 6)]), None)
    assert store.end_transaction(1)
    assert [p.profile_id for p in store.profiles] == [2, 3]
    assert not store.end_transaction(1)


def test_install_refusals() -> None:
    store = ChargingProfiles([1], limits=ProfileLimits(allowed_units=("Current",)))
    with pytest.raises(ProfileError, match="connector 0"):
        store.install(make(1, 1, PURPOSE_CHARGE_POINT_MAX, [(0, 6)]), None)
    with pytest.raises(ProfileError, match="no connector 2"):
        store.install(make(2, 1, PURPOSE_TX_DEFAULT, [(0, 6)]), None)
    with pytest.raises(ProfileError, match="ChargeProfileMaxStackLevel"):
        store.install(make(1, 1, PURPOSE_TX_DEFAULT, [(0, 6)], stack=9), None)
    store.install(make(1, 1, PURPOSE_TX_DEFAULT, [(0, 6)], stack=8), None)
    with pytest.raises(ProfileError, match="ChargingScheduleMaxPeriods"):
        store.install(make(1, 2, PURPOSE_TX_DEFAULT, [(i, 6) for i in range(25)]), None)
    store.install(make(1, 2, PURPOSE_TX_DEFAULT, [(i, 6) for i in range(24)]), None)
    with pytest.raises(ProfileError, match="unit W"):
        store.install(make(1, 3, PURPOSE_TX_DEFAULT, [(0, 6)], unit="W"), None)
    assert [p.profile_id for p in store.profiles] == [1, 2]


def test_max_installed_counts_after_replacement() -> None:
    store = ChargingProfiles([1, 2])
    for profile_id in range(1, 17):  # connectors 1, 2, 0, 1, 2, 0...; stack levels 0..5
        connector, stack = profile_id % 3, profile_id // 3
        store.install(make(connector, profile_id, PURPOSE_TX_DEFAULT, [(0, 6)], stack=stack), None)
    assert len(store.profiles) == 16
    before = store.profiles
    with pytest.raises(ProfileError, match="MaxChargingProfilesInstalled"):
        store.install(make(0, 17, PURPOSE_CHARGE_POINT_MAX, [(0, 6)], stack=8), None)
    assert store.profiles == before
    # Replacing one when full is fine: by id, and by purpose + stack level + connector.
    store.install(make(2, 16, PURPOSE_TX_DEFAULT, [(0, 7)], stack=7), None)
    store.install(make(0, 99, PURPOSE_TX_DEFAULT, [(0, 8)], stack=5), None)  # replaces id 15
    assert len(store.profiles) == 16
    assert {p.profile_id for p in store.profiles} == set(range(1, 15)) | {16, 99}


def test_replacement_by_id_and_by_purpose_stack_and_connector() -> None:
    store = ChargingProfiles([1, 2])
    store.install(make(1, 1, PURPOSE_TX_DEFAULT, [(0, 6)], stack=1), None)
    store.install(make(2, 2, PURPOSE_TX_DEFAULT, [(0, 6)], stack=1), None)  # other connector
    store.install(make(1, 3, PURPOSE_TX_DEFAULT, [(0, 6)], stack=2), None)  # other level
    assert [p.profile_id for p in store.profiles] == [1, 2, 3]
    store.install(make(0, 1, PURPOSE_CHARGE_POINT_MAX, [(0, 20)]), None)  # same id
    assert [(p.profile_id, p.purpose) for p in store.profiles] == [
        (2, PURPOSE_TX_DEFAULT),
        (3, PURPOSE_TX_DEFAULT),
        (1, PURPOSE_CHARGE_POINT_MAX),
    ]
    store.install(make(1, 4, PURPOSE_TX_DEFAULT, [(0, 9)], stack=2), None)  # replaces 3
    assert [p.profile_id for p in store.profiles] == [2, 1, 4]


def cleared_ids(**criteria: Any) -> tuple[bool, list[int]]:
    store = ChargingProfiles([1, 2])
    transaction = TransactionContext(1, z("06-01T09:00"))
    store.install(make(0, 1, PURPOSE_CHARGE_POINT_MAX, [(0, 32)]), None)
    store.install(make(0, 2, PURPOSE_TX_DEFAULT, [(0, 16)]), None)
    store.install(make(1, 3, PURPOSE_TX_DEFAULT, [(0, 16)], stack=1), None)
    store.install(make(2, 4, PURPOSE_TX_DEFAULT, [(0, 16)], stack=1), None)
    store.install(make(1, 5, PURPOSE_TX, [(0, 6)], stack=2), transaction)
    changed = store.clear(**criteria)
    return changed, [p.profile_id for p in store.profiles]


@pytest.mark.parametrize(
    ("criteria", "changed", "left"),
    [
        ({"profile_id": 3, "purpose": PURPOSE_TX}, True, [1, 2, 4, 5]),  # id alone counts
        ({"profile_id": 99}, False, [1, 2, 3, 4, 5]),
        ({"connector_id": 0}, True, [3, 4, 5]),
        ({"purpose": PURPOSE_TX_DEFAULT}, True, [1, 5]),
        ({"stack_level": 1}, True, [1, 2, 5]),
        ({"connector_id": 1, "stack_level": 1}, True, [1, 2, 4, 5]),
        ({"connector_id": 2, "purpose": PURPOSE_TX}, False, [1, 2, 3, 4, 5]),
        ({}, True, []),
    ],
)
def test_clear(criteria: dict[str, Any], changed: bool, left: list[int]) -> None:
    assert cleared_ids(**criteria) == (changed, left)


# --------------------------------------------------------------------------------------------
# Reading and writing profiles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"chargingSchedulePeriod": [{"startPeriod": 10, "limit": 6}]}, "start at 0"),
        (
            {
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 6},
                    {"startPeriod": 0, "limit": 7},
                ]
            },
            "increasing",
        ),
        (
            {
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 6},
                    {"startPeriod": 600, "limit": 7},
                    {"startPeriod": 300, "limit": 8},
                ]
            },
            "increasing",
        ),
        ({"chargingSchedulePeriod": []}, "at least one period"),
        ({"chargingSchedulePeriod": [{"startPeriod": 0, "limit": -0.1}]}, "negative"),
        (
            {"chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6, "numberPhases": 0}]},
            "1, 2 or 3",
        ),
        (
            {"chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6, "numberPhases": 4}]},
            "1, 2 or 3",
        ),
        ({"startSchedule": "tomorrow"}, "RFC 3339"),
        ({"duration": -1}, "duration"),
    ],
)
def test_schedule_errors(change: dict[str, Any], reason: str) -> None:
    data = wire(1, PURPOSE_TX_DEFAULT, [(0, 6)])
    data["chargingSchedule"] |= change
    with pytest.raises(ProfileError, match=reason):
        ChargingProfile.from_ocpp(1, data, received_at=RECEIVED)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"chargingProfileKind": "Recurring", "recurrencyKind": "Daily"}, "startSchedule"),
        ({"chargingProfileKind": "Recurring"}, "recurrencyKind"),
        (
            {"validFrom": "2026-06-01T10:00:00Z", "validTo": "2026-06-01T10:00:00Z"},
            "validTo must be later",
        ),
        (
            {"validFrom": "2026-06-01T10:00:00Z", "validTo": "2026-06-01T11:59:59+02:00"},
            "validTo must be later",
        ),
        ({"stackLevel": -1}, "stackLevel"),
    ],
)
def test_profile_errors(change: dict[str, Any], reason: str) -> None:
    data = wire(1, PURPOSE_TX_DEFAULT, [(0, 6)]) | change
    with pytest.raises(ProfileError, match=reason):
        ChargingProfile.from_ocpp(1, data, received_at=RECEIVED)


def test_reading_a_profile() -> None:
    data = wire(
        5,
        PURPOSE_TX_DEFAULT,
        [(0, 6.5), (900, 4000, 2)],
        stack=3,
        kind="Recurring",
        recurrency="Weekly",
        duration=7200,
        unit="W",
    )
    data["chargingSchedule"]["startSchedule"] = "2026-06-01T12:00:00"  # no offset: UTC
    data["chargingSchedule"]["minChargingRate"] = 1.5
    data["validTo"] = "2026-07-01T00:00:00.25+02:00"
    assert ChargingProfile.from_ocpp(2, data, received_at=RECEIVED) == ChargingProfile(
        connector_id=2,
        profile_id=5,
        stack_level=3,
        purpose=PURPOSE_TX_DEFAULT,
        kind="Recurring",
        recurrency="Weekly",
        valid_from=None,
        valid_to=datetime(2026, 6, 30, 22, 0, 0, 250_000, tzinfo=UTC),
        transaction_id=None,
        start_schedule=z("06-01T12:00"),
        duration=7200,
        unit="W",
        periods=(SchedulePeriod(0, 6.5), SchedulePeriod(900, 4000.0, 2)),
        min_charging_rate=1.5,
    )
    # recurrencyKind on an Absolute profile is not refused.
    absolute = wire(1, PURPOSE_TX_DEFAULT, [(0, 6)], recurrency="Daily")
    assert ChargingProfile.from_ocpp(1, absolute, received_at=RECEIVED).start_schedule == RECEIVED


def test_ocpp_round_trip() -> None:
    data = {
        "chargingProfileId": 12,
        "transactionId": 77,
        "stackLevel": 2,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "validFrom": "2026-06-01T00:00:00Z",
        "validTo": "2026-06-02T00:00:00.5Z",
        "chargingSchedule": {
            "duration": 3600,
            "startSchedule": "2026-06-01T10:00:00Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0},
                {"startPeriod": 600, "limit": 6.1, "numberPhases": 1},
            ],
            "minChargingRate": 6.0,
        },
    }
    profile = ChargingProfile.from_ocpp(1, data, received_at=RECEIVED)
    assert profile.to_ocpp() == {**data, "validTo": "2026-06-02T00:00:00.500000Z"}
    assert ChargingProfile.from_ocpp(1, profile.to_ocpp(), received_at=RECEIVED) == profile
    stored = json.loads(json.dumps(profile.to_dict()))
    assert stored["connector_id"] == 1
    assert ChargingProfile.from_dict(stored) == profile
    validate(
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": profile.to_ocpp()},
        response=False,
        inbound=False,
    )


def test_store_round_trip_through_json() -> None:
    store = berlin_daily_store()
    transaction = TransactionContext(3, z("06-01T08:00"))
    store.install(make(1, 2, PURPOSE_TX, [(0, 10)], kind="Relative", transaction_id=3), transaction)
    store.install(make(0, 3, PURPOSE_CHARGE_POINT_MAX, [(0, 11000)], unit="W"), None)
    store.set_local(1, [LocalPeriod(z("06-01T10:00"), amps=12.5), LocalPeriod(z("06-01T11:00"))])
    store.set_local(0, [LocalPeriod(z("06-01T10:00"), watts=7000)])
    data = json.loads(json.dumps(store.to_dict()))

    restored = ChargingProfiles([1], tz=BERLIN)
    restored.load(data)
    assert restored.profiles == store.profiles
    assert restored.local(1) == store.local(1)
    assert restored.local(0) == store.local(0)
    assert restored.to_dict() == data
    args: dict[str, Any] = {"transaction": transaction, "hardware_max_amps": 32.0}
    assert restored.schedule(1, z("06-01T09:00"), 86400, **args) == store.schedule(
        1, z("06-01T09:00"), 86400, **args
    )


def test_load_skips_what_cannot_be_read() -> None:
    good = make(1, 1, PURPOSE_TX_DEFAULT, [(0, 6)]).to_dict()
    data = {
        "profiles": [
            good,
            {"connector_id": 1, "chargingProfileId": "x"},
            replace(make(1, 2, PURPOSE_TX_DEFAULT, [(0, 6)], stack=1), connector_id=5).to_dict(),
        ],
        "local": {"1": [{"start": "bad"}], "2": [{"start": "2026-06-01T10:00:00Z", "amps": 3}]},
    }
    store = ChargingProfiles([1, 2])
    store.load(data)
    assert [p.profile_id for p in store.profiles] == [1]
    assert store.local(1) == ()
    assert store.local(2) == (LocalPeriod(z("06-01T10:00"), amps=3.0),)
