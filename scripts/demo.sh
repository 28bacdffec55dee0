#!/usr/bin/env bash
# make demo: a local CSMS that logs every frame, and the charge-point simulator talking to it.
# CSMS_URL=ws://host:port/path CP_ID=MYCP make demo points the simulator at your own CSMS.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
venv=$(bash scripts/venv.sh)
state=${DEMO_STATE_DIR:-$HOME/.cache/ocpp_cp/demo-state}
mkdir -p "$state"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
url=${CSMS_URL:-}
if [ -z "$url" ]; then
  port=${DEMO_CSMS_PORT:-9000}
  "$venv/bin/python" example/demo/csms.py --port "$port" > "$state/csms.log" 2>&1 &
  pids+=($!)
  url="ws://127.0.0.1:$port/ocpp"
  sleep 1
  echo "Demo CSMS on $url (every frame is logged to $state/csms.log)"
fi
echo "Charge point ${CP_ID:-DEMO1} -> $url. Type commands, e.g.: plug 1 | swipe CARD1 | ev-charging 1 | meter 1 1500 | unplug 1 | quit"
"$venv/bin/python" -m custom_components.ocpp_cp.engine --url "$url" --id "${CP_ID:-DEMO1}" --state-dir "$state/cp"
