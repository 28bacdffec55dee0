"""Fixtures shared by the engine and the integration tests (none of them autouse)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.csms import TestCsms


@pytest.fixture
async def csms() -> AsyncIterator[TestCsms]:
    """A real CSMS (the ocpp library's central-system side) on 127.0.0.1."""
    server = await TestCsms.start()
    try:
        yield server
    finally:
        await server.stop()
