"""Meter value formatting, clock alignment and transaction-message retries."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from typing import Any

import pytest
from ocpp.v16 import call
from ocpp.v16.enums import Measurand, ReadingContext

from custom_components.ocpp_cp.engine.meter import MeterReadings, format_value, sampled_values
from custom_components.ocpp_cp.engine.ocpp16.validation import validate
from tests.csms import TestCsms

from .conftest import EngineFactory
from .test_core import accepted_engine


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (230.0, "230"),
        (7.4, "7.4"),
        (0.125, "0.125"),
        (0.0004, "0"),
        (-0.0001, "0"),
        (1e9, "1000000000"),
    ],
)
def test_format_value(value: float, text: str) -> None:
    assert format_value(value) == text


def test_missing_and_non_finite_readings_are_omitted() -> None:
    readings = MeterReadings()
    readings.set("Power.Active.Import", float("inf"))
    readings.set("SoC", 40)
    readings.set("SoC", None)  # the source went unavailable
    readings.set("Temperature", 21.5)
    values = sampled_values(
        readings, ["Power.Active.Import", "SoC", "Temperature"], "Sample.Periodic", {}
    )
    assert values == [
        {
            "value": "21.5",
            "context": "Sample.Periodic",
            "format": "Raw",
            "measurand": "Temperature",
            "location": "Body",
            "unit": "Celsius",
        }
    ]


def test_stale_readings_are_omitted() -> None:
    readings = MeterReadings(stale_after=-1)  # everything is already too old
    readings.set("Voltage", 230)
    assert readings.get("Voltage") is None


def test_frequency_has_no_unit() -> None:
    readings = MeterReadings()
    readings.set("Frequency", 50.01)
    (value,) = sampled_values(readings, ["Frequency"], "Sample.Clock", {})
    assert "unit" not in value
    assert value["value"] == "50.01"


def test_next_aligned_boundary_counts_from_local_midnight(make_engine: EngineFactory) -> None:
    engine = make_engine("ws://127.0.0.1:9")
    local = datetime(2026, 11, 21, 10, 7, 30).astimezone()
    delay = engine.seconds_to_next_aligned(local.timestamp(), 900)
    assert delay == pytest.approx(7.5 * 60)
    on_boundary = datetime(2026, 11, 21, 10, 15, 0).astimezone()
    assert engine.seconds_to_next_aligned(on_boundary.timestamp(), 900) == pytest.approx(900)


async def test_clock_aligned_values_outside_a_transaction(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    engine.set_reading(1, "Energy.Active.Import.Register", 777)
    result = await csms.call(call.ChangeConfiguration(key="ClockAlignedDataInterval", value="1"))
    assert result.status == "Accepted"
    aligned = await csms.wait_for("MeterValues", timeout=10)
    assert "transaction_id" not in aligned
    (meter_value,) = aligned["meter_value"]
    assert meter_value["sampled_value"][0]["context"] == "Sample.Clock"
    assert meter_value["sampled_value"][0]["value"] == "777"
    stamp = datetime.fromisoformat(meter_value["timestamp"].replace("Z", "+00:00"))
    assert stamp.microsecond < 200_000  # taken right after a whole-second boundary


async def test_transaction_message_retried_then_given_up(
    csms: TestCsms, make_engine: EngineFactory
) -> None:
    engine = await accepted_engine(csms, make_engine)
    for key, value in (
        ("TransactionMessageAttempts", "2"),
        ("TransactionMessageRetryInterval", "0"),
    ):
        await csms.call(call.ChangeConfiguration(key=key, value=value))
    failures = 0
    original = csms.session.side.route_map["StartTransaction"]["_on_action"]

    def failing_start(**kwargs: object) -> object:
        nonlocal failures
        failures += 1
        csms.received.append(type(csms.received[0])("StartTransaction", dict(kwargs), 0.0))
        raise RuntimeError("CSMS database down")  # the library answers with a CALLERROR

    csms.session.side.route_map["StartTransaction"]["_on_action"] = failing_start
    engine.set_plugged(1, True)
    await engine.swipe("T")
    async with asyncio.timeout(15):
        while not csms.actions("StopTransaction"):
            await asyncio.sleep(0.01)
    assert failures == 2  # TransactionMessageAttempts, then given up
    csms.session.side.route_map["StartTransaction"]["_on_action"] = original
    # No unbilled charging: the transaction ends, and its StopTransaction still tells the
    # CSMS the energy, with libocpp's placeholder id for a transaction it never numbered.
    (stop,) = csms.actions("StopTransaction")
    assert stop["transaction_id"] == -1
    assert stop["reason"] == "DeAuthorized"
    assert engine.connectors[1].transaction is None
    assert engine.hardware.calls[-1] == ("permitted", (1, False))  # type: ignore[attr-defined]


def test_every_sampled_meter_value_is_schema_valid() -> None:
    """The engine sends triggered MeterValues without validating them at run time (the hot
    path); this is the check instead: whatever the readings, the builder's output fits the
    1.6 schema, for every measurand, phase, context and value range."""
    rng = random.Random(16)
    measurands = sorted(m.value for m in Measurand)
    contexts = [c.value for c in ReadingContext]
    extremes = [0.0, -0.0, 1e-9, 0.0005, 123456789.123, -5.5, 1e15, 7.0]
    for _ in range(300):
        readings = MeterReadings()
        for measurand in rng.sample(measurands, rng.randint(0, len(measurands))):
            phases = [None, "L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2"]
            for phase in rng.sample(phases, rng.randint(1, 3)):
                value = rng.choice([*extremes, rng.uniform(-1e6, 1e6)])
                readings.set(measurand, value, phase)
        offered = {"Current.Offered": rng.uniform(0, 80), "Power.Offered": rng.uniform(0, 5e4)}
        wanted = rng.sample(measurands, rng.randint(1, len(measurands)))
        values = sampled_values(readings, wanted, rng.choice(contexts), offered)
        if not values:
            continue
        payload: dict[str, Any] = {
            "connectorId": rng.randint(0, 16),
            "meterValue": [{"timestamp": "2026-12-06T01:02:03.456Z", "sampledValue": values}],
        }
        if rng.random() < 0.5:
            payload["transactionId"] = rng.randint(-(2**31), 2**31)
        validate("MeterValues", payload, response=False, inbound=False)
