"""The charger-preset step in a real browser: the demo (without ocpp_cp set up) also has a Peblar
charger (DEMO_PRESET_CHARGER=1); tests/browser/presets.mjs adds the integration in Chromium, picks
the Peblar in "Charger device" and saves the mapping form as it comes filled in. This test then
reads the entry Home Assistant stored and checks the mapping is the Peblar preset's.

Screenshots go to a temporary folder; OCPP_CP_SCREENSHOTS=docs/screenshots refreshes the
README's. Needs what tests/browser/test_browser.py needs (scripts/ci-browser.sh).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_browser import CHROMIUM, FLOW_TIMEOUT, HERE, missing_tools
from tests.demo.demo_run import REPO, DemoRun

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
    path = run.state / "config" / ".storage" / "core.config_entries"
    try:
        entries = json.loads(path.read_text())["data"]["entries"]
    except (OSError, ValueError, KeyError):
        return None
    for entry in entries:
        if entry["domain"] == "ocpp_cp":
            mapping: dict[str, Any] = entry["options"]["mapping"]["1"]
            return mapping
    return None


@pytest.mark.timeout(600)
def test_pick_a_peblar_in_the_browser(demo_factory: Callable[..., DemoRun], tmp_path: Path) -> None:
    if problem := missing_tools():
        pytest.fail(problem)
    run = demo_factory(DEMO_NO_ENTRY="1", DEMO_PRESET_CHARGER="1").start()
    assert run.wait_ready()["entry_id"] is None
    shots = Path(os.environ.get("OCPP_CP_SCREENSHOTS") or tmp_path / "screenshots")
    if not shots.is_absolute():
        shots = REPO / shots
    env = {
        **os.environ,
        "HA_URL": run.url,
        "CSMS_URL": f"ws://127.0.0.1:{run.csms_port}/ocpp",
        "CP_ID": "DEMO1",
        "SCREENSHOTS": str(shots),
        "CHROMIUM": CHROMIUM,
        "STEP_TIMEOUT_MS": "30000",
    }
    try:
        flow = subprocess.run(
            ["node", "presets.mjs"],
            cwd=HERE,
            env=env,
            capture_output=True,
            text=True,
            timeout=FLOW_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"the browser flow took over {FLOW_TIMEOUT} s: {err.stdout}") from None
    steps = []
    for line in flow.stdout.splitlines():
        try:
            steps.append(json.loads(line))
        except ValueError:
            continue
    assert flow.returncode == 0 and steps and steps[-1].get("done"), (
        f"browser flow failed (screenshot: {shots / 'presets-failure.png'})\n"
        f"stdout:\n{flow.stdout}\nstderr:\n{flow.stderr}\n{run.diagnostics()}"
    )
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
