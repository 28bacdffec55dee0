"""Fixtures for tests that run Home Assistant (the engine tests do not)."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/ocpp_cp."""


@pytest.fixture(autouse=True)
def _loopback(socket_enabled: None) -> None:
    """These tests talk to a real CSMS on 127.0.0.1."""


@pytest.fixture(autouse=True)
async def _entity_domains_first(auto_enable_custom_integrations: None, hass: HomeAssistant) -> None:
    """ocpp_cp has number and switch entities of its own. Set those domains up before a test
    mocks their services with async_mock_service (for the mapped charger entities, which are
    only states): a domain set up later registers its services over the mocks, and what the
    charge point writes to the charger would go nowhere. After a module's own
    auto_enable_custom_integrations, so a recorder it asks for still comes before hass."""
    assert await async_setup_component(hass, "number", {})
    assert await async_setup_component(hass, "switch", {})
