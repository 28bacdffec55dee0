"""Fixtures of the conformance suite: one CSMS and (usually) one simulator process per test.

Every simulator is started in its own session with PR_SET_PDEATHSIG, so it dies with the test
process even if pytest is killed, and is SIGKILLed in the fixture teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Protocol

import pytest

from .harness import Csms, req
from .sim import Simulator

# Short intervals keep the suite fast; every wait in the tests is bounded by these or less.
FAST = ("--reconnect-delay", "0.2", "--call-timeout", "5")


class Launch(Protocol):
    def __call__(
        self,
        *args: str,
        connectors: int = 1,
        boot: bool = True,
        state_dir: Path | None = None,
    ) -> Awaitable[Simulator]: ...


@pytest.fixture(autouse=True)
def _loopback(socket_enabled: None) -> None:
    """The suite talks to its own CSMS on 127.0.0.1."""


@pytest.fixture
async def csms() -> AsyncIterator[Csms]:
    server = await Csms.start()
    try:
        yield server
    finally:
        await server.stop()
    # A CALL of the charge point that the library's CSMS refused broke the 1.6 schema.
    assert not server.problems, "\n".join(server.problems)


async def booted(csms: Csms, sim: Simulator, connectors: int, after: int = 0) -> None:
    """Boot Accepted and a StatusNotification for connectors 0..N."""
    await sim.wait_event("state", state="accepted")
    boot = await csms.wait(req("BootNotification"), after)
    for connector_id in range(connectors + 1):
        await csms.wait(req("StatusNotification", connectorId=connector_id), after)
    assert boot.payload["chargePointVendor"]


@pytest.fixture
async def launch(csms: Csms, tmp_path: Path) -> AsyncIterator[Launch]:
    sims: list[Simulator] = []

    async def start(
        *args: str,
        connectors: int = 1,
        boot: bool = True,
        state_dir: Path | None = None,
    ) -> Simulator:
        sim = await Simulator.start(
            csms.url,
            state_dir or tmp_path / f"cp{len(sims)}",
            "--connectors",
            str(connectors),
            *FAST,
            *args,
        )
        sims.append(sim)
        if boot:
            mark = csms.mark()
            await booted(csms, sim, connectors, mark)
        return sim

    try:
        yield start
    finally:
        for sim in sims:
            await sim.kill()
