"""The charger-preset step in a real browser: the demo (without ocpp_cp set up) also has a Peblar
charger (DEMO_PRESET_CHARGER=1); tests/browser/presets.mjs adds the integration in Chromium, picks
the Peblar in "Charger device" and saves the mapping form as it comes filled in. This test then
reads the entry Home Assistant stored and checks the mapping is the Peblar preset's.

Screenshots go to a temporary folder; OCPP_CP_SCREENSHOTS=docs/screenshots refreshes the
README's. Needs what tests/browser/test_browser.py needs (scripts/ci-browser.sh).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_run import require_tools, run_flow, screenshot_dir, stored_entry
from tests.demo.demo_run import DemoRun

SCREENSHOTS = ("config-flow-charger-device.png", "config-flow-charger-mapping.png")
PEBLAR_STATUS = {
    "no_ev_connected": "Available",
    "suspended": "SuspendedEV",
    "charging": "Charging",
    "error": "Faulted",
    "fault": "Faulted",
    "invalid": "Faulted",
}


def stored_mapping(run: DemoRun) -> dict[str, Any] | None:
    """Connector 1's mapping in the config entries Home Assistant saved, once it is there."""
    entry = stored_entry(run)
    if entry is None:
        return None
    mapping: dict[str, Any] = entry["options"]["mapping"]["1"]
    return mapping


@pytest.mark.timeout(600)
def test_pick_a_peblar_in_the_browser(demo_factory: Callable[..., DemoRun], tmp_path: Path) -> None:
    require_tools()
    run = demo_factory(DEMO_NO_ENTRY="1", DEMO_PRESET_CHARGER="1").start()
    assert run.wait_ready()["entry_id"] is None
    shots = screenshot_dir(tmp_path)
    run_flow("presets.mjs", run, shots, "presets-failure.png")
    mapping = run.wait(lambda: stored_mapping(run), 30, "the entry saved with its mapping")
    assert mapping == {
        "charge_switch": "switch.peblar_charge",
        "current_number": "number.peblar_charge_current_limit",
        "status_sensor": "sensor.peblar_cp_state",
        "status_mapping": PEBLAR_STATUS,
        "power": "sensor.peblar_power_total",
        "energy": "sensor.peblar_energy_total",
        "phases": 1,
        "nominal_voltage": 230,
    }
    for name in SCREENSHOTS:
        assert (shots / name).stat().st_size > 10_000, name
    run.interrupt(signal.SIGINT)
