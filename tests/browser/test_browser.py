"""A newcomer's first hour, in a real browser: Chromium (Debian's) driven by playwright-core.

The demo runs without ocpp_cp set up (DEMO_NO_ENTRY=1); tests/browser/flow.mjs logs in, adds the
integration through the UI (a wrong CSMS URL first: the error must show), maps the demo charger,
opens the device page, then performs actions in Developer tools: plug in, start a session,
ocpp_cp.set_limit to 10 A. This test checks the result in Home Assistant and in the CSMS's frame
log, then stops the demo with Ctrl-C.

Screenshots go to a temporary folder; set OCPP_CP_SCREENSHOTS=docs/screenshots to refresh the
README's. Needs /usr/bin/chromium (or $CHROMIUM), node and tests/browser/node_modules: run
scripts/ci-browser.sh once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.demo.demo_run import REPO, DemoRun, calls, free_port

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = (
    "login.png",
    "config-flow-error.png",
    "config-flow-mapping.png",
    "device.png",
    "developer-tools-set-limit.png",
)
FLOW_TIMEOUT = 300.0


def missing_tools() -> str | None:
    problems = []
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(f"Chromium is missing ({CHROMIUM})")
    if shutil.which("node") is None:
        problems.append("node is missing")
    if not (HERE / "node_modules" / "playwright-core" / "package.json").exists():
        problems.append("tests/browser/node_modules/playwright-core is missing")
    if problems:
        return "; ".join(problems) + ". Run scripts/ci-browser.sh (it installs both)."
    return None


def offered_amps(run: DemoRun) -> list[float]:
    return [
        float(sampled["value"])
        for payload in calls(run.frames(), "MeterValues")
        for meter_value in payload["meterValue"]
        for sampled in meter_value["sampledValue"]
        if sampled.get("measurand") == "Current.Offered"
    ]


@pytest.mark.timeout(600)
def test_add_integration_in_the_browser(
    demo_factory: Callable[..., DemoRun], tmp_path: Path
) -> None:
    if problem := missing_tools():
        pytest.fail(problem)
    run = demo_factory(DEMO_NO_ENTRY="1").start()
    assert run.wait_ready()["entry_id"] is None
    assert run.api("GET", "/api/config/config_entries/entry?domain=ocpp_cp") == []

    shots = Path(os.environ.get("OCPP_CP_SCREENSHOTS") or tmp_path / "screenshots")
    if not shots.is_absolute():
        shots = REPO / shots
    env = {
        **os.environ,
        "HA_URL": run.url,
        "CSMS_URL": f"ws://127.0.0.1:{run.csms_port}/ocpp",
        "WRONG_CSMS_URL": f"ws://127.0.0.1:{free_port()}/ocpp",  # nothing listens there
        "CP_ID": "DEMO1",
        "SCREENSHOTS": str(shots),
        "CHROMIUM": CHROMIUM,
        "STEP_TIMEOUT_MS": "30000",
    }
    try:
        flow = subprocess.run(
            ["node", "flow.mjs"],
            cwd=HERE,
            env=env,
            capture_output=True,
            text=True,
            timeout=FLOW_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"the browser flow took over {FLOW_TIMEOUT} s: {err.stdout}") from None
    steps: list[dict[str, Any]] = []
    for line in flow.stdout.splitlines():
        try:
            steps.append(json.loads(line))
        except ValueError:
            continue
    assert flow.returncode == 0 and steps and steps[-1].get("done"), (
        f"browser flow failed (screenshot: {shots / 'failure.png'})\n"
        f"stdout:\n{flow.stdout}\nstderr:\n{flow.stderr}\n{run.diagnostics()}"
    )
    result = steps[-1]

    # The wrong URL was refused with the integration's own words.
    assert result["error"].startswith("Cannot connect to the central system"), result["error"]
    # The entry the browser created is there, loaded, and connected to the demo CSMS.
    entries = run.api("GET", "/api/config/config_entries/entry?domain=ocpp_cp")
    assert [(e["entry_id"], e["title"], e["state"]) for e in entries] == [
        (result["entry_id"], "DEMO1", "loaded")
    ]
    assert run.state_of("sensor.demo1_connection_state") == "accepted"
    # The session started from Developer tools reached the CSMS ...
    assert list(calls(run.frames(), "StartTransaction"))
    # ... and set_limit took effect: the charger's limit number and Current.Offered are 10 A.
    assert float(run.state_of("number.demo_charger_current_limit")) == 10
    run.wait(lambda: 10.0 in offered_amps(run), 30, "MeterValues with Current.Offered 10 A")
    for name in SCREENSHOTS:
        assert (shots / name).stat().st_size > 10_000, name

    run.interrupt(signal.SIGINT)
