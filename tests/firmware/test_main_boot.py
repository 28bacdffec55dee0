"""main.py, the boot file that is never updated over the air: a version on trial that fails
before its safety loop starts the watchdog (import error, exception while starting, main()
returning) resets the board, so the next boot rolls the update back instead of the board
sitting at the REPL with an unconfirmed update."""

from __future__ import annotations

import runpy
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import otaboot
import pytest

from tests.firmware.conftest import FIRMWARE

MAIN = FIRMWARE / "main.py"
OLD_APP = "BOOTS = []\n\n\ndef main(boot=None):\n    BOOTS.append(boot)\n"
OLD = {"__init__.py": "VERSION = '0.1.0'\n", "app.py": OLD_APP}


class Reset(BaseException):
    """machine.reset(): never returns on the board."""


def _board_modules() -> dict[str, types.ModuleType]:
    return {
        k: m
        for k, m in sys.modules.items()
        if k in ("evse", "otaboot", "machine") or k.startswith("evse.")
    }


@pytest.fixture
def board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The board's file system as the working directory, lib/ first on the import path, and
    a fake `machine` whose reset() raises Reset. The test's own evse modules come back after."""
    saved = _board_modules()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    yield tmp_path
    for k in _board_modules():
        del sys.modules[k]
    sys.modules.update(saved)


def power_on() -> None:
    """A fresh interpreter: nothing of the evse package loaded, then main.py runs."""
    for k in _board_modules():
        del sys.modules[k]
    machine = types.ModuleType("machine")

    def reset() -> None:
        raise Reset

    machine.reset = reset
    sys.modules["machine"] = machine
    runpy.run_path(str(MAIN), run_name="__main__")


def write_package(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")


def stage(root: Path, new_app: str) -> None:
    """Version 0.1.0 installed, 0.2.0 staged as an update would leave it."""
    write_package(root / "lib" / "evse", OLD)
    write_package(root / otaboot.NEW, {"__init__.py": "VERSION = '0.2.0'\n", "app.py": new_app})
    otaboot.mark_staged(str(root), "0.2.0", "0.1.0", "req-9")


def installed(root: Path) -> str:
    return (root / "lib" / "evse" / "app.py").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "new_app",
    [
        "raise ImportError('broken update')\n",  # the new package fails at import
        "def main(boot=None):\n    raise ValueError('App() failed')\n",  # fails while starting
        "def main(boot=None):\n    return\n",  # returns to the REPL (config refused, nostart)
    ],
    ids=["import-error", "raises", "returns"],
)
def test_failed_trial_resets_and_the_next_boot_rolls_back(board: Path, new_app: str) -> None:
    stage(board, new_app)
    with pytest.raises(Reset):
        power_on()
    assert installed(board) == new_app  # it was the trial that ran
    assert otaboot.read_state(str(board))["phase"] == "trial"

    power_on()  # the old version starts again, and reports the failed update
    assert installed(board) == OLD_APP
    (boot,) = sys.modules["evse.app"].BOOTS
    assert (boot["phase"], boot["status"]) == ("idle", "InstallationFailed")
    assert boot["version"] == "0.1.0"
    assert boot["id"] == "req-9"
    assert not (board / otaboot.OLD).exists()


def test_outside_a_trial_a_failure_stays_at_the_repl(board: Path) -> None:
    # No update on trial: no reset loop; the exception reaches the REPL for maintenance.
    write_package(board / "lib" / "evse", {"__init__.py": "", "app.py": "raise ImportError('x')\n"})
    with pytest.raises(ImportError, match="x"):
        power_on()
    (board / "lib" / "evse" / "app.py").write_text(OLD_APP, encoding="utf-8")
    power_on()  # returns (nostart, configuration refused): no reset either
    (boot,) = sys.modules["evse.app"].BOOTS
    assert boot["phase"] == "idle"
