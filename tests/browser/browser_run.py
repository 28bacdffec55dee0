"""What the browser tests share: the tools they need, where screenshots go, and running one of
the Chromium flows (flow.mjs, presets.mjs, site_guard.mjs) against a running demo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.demo.demo_run import REPO, DemoRun

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
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


def require_tools() -> None:
    """A browser test without its tools fails (it is not skipped) and says how to get them."""
    if problem := missing_tools():
        pytest.fail(problem)


def screenshot_dir(tmp_path: Path) -> Path:
    """A temporary folder; OCPP_CP_SCREENSHOTS=docs/screenshots refreshes the README's."""
    shots = Path(os.environ.get("OCPP_CP_SCREENSHOTS") or tmp_path / "screenshots")
    return shots if shots.is_absolute() else REPO / shots


def run_flow(
    script: str, run: DemoRun, shots: Path, failure: str, **extra_env: str
) -> list[dict[str, Any]]:
    """Runs ``node script`` against the demo; its JSON lines, the last one ``{"done": true}``
    (else the test fails with the flow's output, the failure screenshot's path and the demo's
    logs)."""
    env = {
        **os.environ,
        "HA_URL": run.url,
        "CSMS_URL": f"ws://127.0.0.1:{run.csms_port}/ocpp",
        "CP_ID": "DEMO1",
        "SCREENSHOTS": str(shots),
        "CHROMIUM": CHROMIUM,
        "STEP_TIMEOUT_MS": "30000",
        **extra_env,
    }
    try:
        flow = subprocess.run(
            ["node", script],
            cwd=HERE,
            env=env,
            capture_output=True,
            text=True,
            timeout=FLOW_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        output = err.stdout if isinstance(err.stdout, str) else ""
        raise AssertionError(f"the browser flow took over {FLOW_TIMEOUT} s: {output}") from None
    steps: list[dict[str, Any]] = []
    for line in flow.stdout.splitlines():
        try:
            steps.append(json.loads(line))
        except ValueError:
            continue
    assert flow.returncode == 0 and steps and steps[-1].get("done"), (
        f"browser flow failed (screenshot: {shots / failure})\n"
        f"stdout:\n{flow.stdout}\nstderr:\n{flow.stderr}\n{run.diagnostics()}"
    )
    return steps


def stored_entry(run: DemoRun) -> dict[str, Any] | None:
    """The ocpp_cp config entry as Home Assistant saved it, once it is there."""
    path = run.state / "config" / ".storage" / "core.config_entries"
    try:
        entries = json.loads(path.read_text())["data"]["entries"]
    except (OSError, ValueError, KeyError):
        return None
    for entry in entries:
        if entry["domain"] == "ocpp_cp":
            found: dict[str, Any] = entry
            return found
    return None
