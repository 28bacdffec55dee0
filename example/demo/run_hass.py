"""``hass`` for the demo: the same entry point, but it also runs on Python 3.13.0 and 3.13.1.

Home Assistant 2026.2 asks for Python >= 3.13.2 and refuses to start on an older 3.13 (the build
machines of this project have 3.13.0; the test suite runs Home Assistant on it too). On a newer
Python this is exactly ``hass``. Restarting from the UI re-runs this file with the same arguments.
"""

from __future__ import annotations

import sys

import homeassistant.__main__ as hass_main

if sys.version_info[:2] == (3, 13) and sys.version_info[:3] < hass_main.REQUIRED_PYTHON_VER:
    hass_main.REQUIRED_PYTHON_VER = sys.version_info[:3]

if __name__ == "__main__":
    sys.exit(hass_main.main())
