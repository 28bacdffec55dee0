"""Fixtures for tests that run Home Assistant (the engine tests do not)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.csms import TestCsms


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/ocpp_cp."""


@pytest.fixture(autouse=True)
def _loopback(socket_enabled: None) -> None:
    """These tests talk to a real CSMS on 127.0.0.1."""


@pytest.fixture
async def csms() -> AsyncIterator[TestCsms]:
    """A real CSMS (the ocpp library's central-system side) on 127.0.0.1."""
    server = await TestCsms.start()
    try:
        yield server
    finally:
        await server.stop()
