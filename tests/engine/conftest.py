"""Fixtures for engine tests: a real CSMS on 127.0.0.1 and engines that are always stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from custom_components.ocpp_cp.engine import (
    ChargePointEngine,
    ChargingLimit,
    EngineSettings,
    MemoryStorage,
    NullHardware,
    ResetKind,
    UnlockOutcome,
)


@pytest.fixture(autouse=True)
def _loopback(socket_enabled: None) -> None:
    """Engine tests talk to a real CSMS on 127.0.0.1."""


class RecordingHardware(NullHardware):
    """Records every output the engine drives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.unlock_outcome = UnlockOutcome.UNLOCKED

    async def set_charging_permitted(self, connector_id: int, permitted: bool) -> None:
        self.calls.append(("permitted", (connector_id, permitted)))

    async def set_charging_limit(self, connector_id: int, limit: ChargingLimit) -> None:
        self.calls.append(("limit", (connector_id, limit)))

    async def unlock_connector(self, connector_id: int) -> UnlockOutcome:
        self.calls.append(("unlock", connector_id))
        return self.unlock_outcome

    async def reset(self, kind: ResetKind) -> None:
        self.calls.append(("reset", kind))


type EngineFactory = Callable[..., ChargePointEngine]


async def no_call_in_flight(engine: ChargePointEngine, timeout: float = 15) -> None:
    """Until the charge point has no CALL under way: none awaiting its answer, none waiting
    its turn (its calls go one at a time).

    The ocpp library's CSMS stops reading when a link closes while it still answers a CALL of
    the charge point's; a fixed sleep for that answer can be outrun on a loaded machine.
    """
    async with asyncio.timeout(timeout):
        while engine.wire.unfinished_calls:
            await asyncio.sleep(0.01)


@pytest.fixture
async def make_engine() -> AsyncIterator[EngineFactory]:
    engines: list[ChargePointEngine] = []

    def factory(
        url: str,
        *,
        storage: Any = None,
        hardware: Any = None,
        listener: Any = None,
        queue_path: str | None = None,
        clock: Any = None,
        **overrides: Any,
    ) -> ChargePointEngine:
        options: dict[str, Any] = {
            "csms_url": url,
            "charge_point_id": "CP1",
            "reconnect_initial_delay": 0.05,
            "reconnect_max_delay": 0.2,
            "call_timeout": 5.0,
        }
        options.update(overrides)
        engine = ChargePointEngine(
            EngineSettings(**options),
            hardware or RecordingHardware(),
            storage or MemoryStorage(),
            listener=listener,
            queue_path=queue_path,
            clock=clock,
        )
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        await engine.stop()
