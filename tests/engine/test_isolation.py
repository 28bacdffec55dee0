"""The engine stays free of Home Assistant so it can be tested and reused on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "custom_components" / "ocpp_cp" / "engine"


def test_engine_sources_import_nothing_from_home_assistant() -> None:
    offenders: list[str] = []
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                depth = len(path.relative_to(ENGINE).parts)  # engine/x.py: 1
                if node.level > depth:
                    offenders.append(f"{path.name}: relative import above the engine")
                names = [node.module or ""]
            else:
                continue
            offenders.extend(
                f"{path.name}: {name}" for name in names if name.split(".")[0] == "homeassistant"
            )
    assert offenders == []


BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "homeassistant" or name.startswith("homeassistant."):
            raise ImportError("Home Assistant is not available here")
        return None
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
import engine
from engine.simulator import main
assert not [m for m in sys.modules if m.startswith("homeassistant")]
try:
    main(["--help"])
except SystemExit as exit:
    assert exit.code == 0
print("engine loaded without Home Assistant")
"""


def test_engine_and_simulator_run_without_home_assistant() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, str(ENGINE.parent)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "plug N | unplug N" in result.stdout
    assert result.stdout.strip().endswith("engine loaded without Home Assistant")


def test_engine_modules_and_classes_stay_small() -> None:
    """The engine is a set of services, not one class: no module over 700 lines, no class
    over 450 (the size libocpp's charge_point_impl grew past)."""
    too_big: list[str] = []
    for path in sorted(ENGINE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + 1
        if lines > 700:
            too_big.append(f"{path.relative_to(ENGINE)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > 450:
                    too_big.append(f"{path.relative_to(ENGINE)}: class {node.name} {size} lines")
    assert too_big == []
