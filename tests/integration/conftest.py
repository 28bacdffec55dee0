"""Fixtures for tests that run Home Assistant (the engine tests do not)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/ocpp_cp."""


@pytest.fixture(autouse=True)
def _loopback(socket_enabled: None) -> None:
    """These tests talk to a real CSMS on 127.0.0.1."""
