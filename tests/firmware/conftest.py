"""Makes the firmware package (`evse`) and the shared test helpers importable by bare name,
as they are on the device and in the MicroPython test run."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware" / "micropython"
MP_TESTS = Path(__file__).resolve().parent / "mp"

for p in (str(FIRMWARE), str(MP_TESTS)):
    if p not in sys.path:
        sys.path.insert(0, p)
