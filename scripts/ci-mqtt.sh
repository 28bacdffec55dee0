#!/usr/bin/env bash
# What the firmware end-to-end test (tests/integration/test_firmware_e2e.py) needs: Debian's
# Mosquitto MQTT broker. The test starts its own broker on 127.0.0.1 (a free port, its own
# configuration); nothing here configures or starts the system service. Idempotent, and quick
# when mosquitto is already installed.
set -euo pipefail

if [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1; then
  exit 0
fi
bash "$(cd "$(dirname "$0")" && pwd)/apt-install.sh" mosquitto
