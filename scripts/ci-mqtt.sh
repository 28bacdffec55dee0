#!/usr/bin/env bash
# What the firmware end-to-end test (tests/integration/test_firmware_e2e.py) needs: Debian's
# Mosquitto MQTT broker. The test starts its own broker on 127.0.0.1 (a free port, its own
# configuration); nothing here configures or starts the system service. Idempotent, and quick
# when mosquitto is already installed.
set -euo pipefail

if [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "Mosquitto is missing and this is not root (and there is no sudo): install the 'mosquitto' package." >&2
  exit 1
fi
echo "Installing mosquitto with apt-get..." >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends mosquitto >&2
