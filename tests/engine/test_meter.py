"""Meter value formatting, clock alignment and transaction-message retries."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from ocpp.v16 import call

from custom_components.ocpp_cp.engine.meter import MeterReadings, format_value, sampled_values
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
    aligned = await csms.wait_for("MeterValues", timeout=3)
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
    async with asyncio.timeout(5):
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
