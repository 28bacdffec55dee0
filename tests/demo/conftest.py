"""The demo tests run `make demo` (scripts/demo.sh) as a subprocess and talk to it on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.demo.demo_run import demo_factory  # noqa: F401 (the fixture)


@pytest.fixture(autouse=True)
def _loopback(socket_enabled: None) -> None:
    """Home Assistant and the CSMS of the demo listen on 127.0.0.1."""
