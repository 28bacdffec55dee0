"""Every benchmark script still runs to its figures (a smoke run; no time is asserted).

The scripts are not imported by anything else, so an engine or integration change that
breaks one (the bridge benchmark once waited forever for a task that never ends) would go
unnoticed until someone measures. The figures themselves are read by people, beside the
baseline each script prints from the same run.
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when pytest dies, however pytest dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


@pytest.mark.parametrize(
    ("script", "args", "rows"),
    [
        ("bridge.py", ["--quick"], ["status", "remote_start", "remote_stop"]),
        ("site_guard.py", ["--quick"], ["baseline", "guard"]),
        ("outage.py", ["--quick"], None),
        ("firmware.py", ["--quick"], None),
        ("smart_charging.py", ["--runs", "20"], None),
        ("engine.py", ["--quick"], None),
    ],
)
def test_benchmark_runs_to_its_figures(
    script: str, args: list[str], rows: list[str] | None, tmp_path: Path
) -> None:
    figures = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        preexec_fn=_die_with_parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    document = json.loads(figures.read_text())
    assert document  # figures were written
    if rows is not None:
        assert [row["key"] for row in document["rows"]] == rows
        assert all(row["n"] > 0 and row["p50_ms"] > 0 for row in document["rows"])
