"""The site fuse guard's options step in a real browser: the demo (with ocpp_cp set up) also has
a three-phase grid meter (DEMO_GRID_METER=1); tests/browser/site_guard.mjs opens the entry's
Configure dialog in Chromium, picks "Site fuse guard", fills it in, is refused a fallback above
fuse minus margin with the translated error, then saves. This test reads the options Home
Assistant stored and the "Site headroom" sensor the guard then shows.

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

SCREENSHOTS = ("options-site-guard.png", "options-site-guard-error.png")
FALLBACK_ERROR = "The fallback current must not exceed the fuse rating minus the safety margin."
HEADROOM = "sensor.demo1_site_headroom"


def stored_guard(run: DemoRun) -> dict[str, Any] | None:
    """The guard's options in the entry Home Assistant saved, once they are there."""
    entry = stored_entry(run)
    if entry is None:
        return None
    guard: dict[str, Any] | None = entry["options"].get("site_guard")
    return guard


def headroom(run: DemoRun) -> float | None:
    """The Site headroom sensor's value once it is there and has a number."""
    states = {state["entity_id"]: state for state in run.api("GET", "/api/states")}
    try:
        return float(states[HEADROOM]["state"])
    except (KeyError, ValueError):
        return None


@pytest.mark.timeout(600)
def test_site_guard_options_in_the_browser(
    demo_factory: Callable[..., DemoRun], tmp_path: Path
) -> None:
    require_tools()
    run = demo_factory(DEMO_GRID_METER="1").start()
    assert run.wait_ready()["entry_id"] is not None
    assert stored_guard(run) is None
    assert headroom(run) is None  # no guard, no sensor
    shots = screenshot_dir(tmp_path)
    steps = run_flow("site_guard.mjs", run, shots, "site-guard-failure.png")

    # The fallback above fuse minus margin was refused with the integration's own words.
    assert steps[-1]["error"] == FALLBACK_ERROR
    guard = run.wait(lambda: stored_guard(run), 30, "the entry saved with the guard")
    assert guard == {
        "enabled": True,
        "grid_current_l1": "sensor.demo_grid_meter_current_l1",
        "grid_current_l2": "sensor.demo_grid_meter_current_l2",
        "grid_current_l3": "sensor.demo_grid_meter_current_l3",
        "grid_voltage": 230.0,
        "fuse_current": 25.0,
        "safety_margin": 1.5,
        "reaction_time": 2.0,
        "increase_interval": 10.0,
        "fallback_current": 6.0,
        "stale_timeout": 30.0,
    }
    # The entry reloaded with the guard: the house draws 7/5/6 A and the car nothing, so the
    # charger may draw 25 - 1.5 - 7 A (L1 is the tightest phase).
    assert run.wait(lambda: headroom(run), 30, "Site headroom with a value") == 16.5
    for name in SCREENSHOTS:
        assert (shots / name).stat().st_size > 10_000, name
    run.interrupt(signal.SIGINT)
