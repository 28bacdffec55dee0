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

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser.browser_run import require_tools, run_flow, screenshot_dir
from tests.demo.demo_run import DemoRun, calls, free_port

SCREENSHOTS = (
    "login.png",
    "config-flow-error.png",
    "config-flow-mapping.png",
    "device.png",
    "developer-tools-set-limit.png",
)


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
    require_tools()
    run = demo_factory(DEMO_NO_ENTRY="1").start()
    assert run.wait_ready()["entry_id"] is None
    assert run.api("GET", "/api/config/config_entries/entry?domain=ocpp_cp") == []

    shots = screenshot_dir(tmp_path)
    steps = run_flow(
        "flow.mjs",
        run,
        shots,
        "failure.png",
        WRONG_CSMS_URL=f"ws://127.0.0.1:{free_port()}/ocpp",  # nothing listens there
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
