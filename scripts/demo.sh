#!/usr/bin/env bash
# make demo: a real Home Assistant (http://127.0.0.1:8123, login demo / demo1234) with ocpp_cp set
# up against a local CSMS that prints every OCPP frame here, and a simulated charger and car.
#
#   CSMS_URL=ws://host:port/path CP_ID=MYCP make demo   your own CSMS instead (no local one);
#                                                      CSMS_AUTH_KEY=... for Basic auth
#   DEMO_HTTP_PORT (8123), DEMO_CSMS_PORT (9000)        ports, both on 127.0.0.1
#   DEMO_STATE_DIR (~/.cache/ocpp_cp/demo)              Home Assistant's folder, logs, token
#   DEMO_AUTOSTART (0)                                  the CSMS starts a session after a car
#                                                      was plugged in this many s (0: never;
#                                                      off by default: it races the UI path)
#   DEMO_METER_INTERVAL (10)                            MeterValueSampleInterval the CSMS sets
#   DEMO_NO_ENTRY=1                                     do not set up ocpp_cp (add it in the UI)
#   DEMO_GRID_METER=1                                   also a grid meter (L1-L3), for the site
#                                                      fuse guard
#   DEMO_VENV                                           a ready virtualenv (default: scripts/venv.sh)
#
# Ctrl-C (or SIGTERM/SIGHUP) stops everything: each part runs in its own session and is stopped
# as a process group, Home Assistant first, killed after 30 s if it does not stop.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

http_port=${DEMO_HTTP_PORT:-8123}
csms_port=${DEMO_CSMS_PORT:-9000}
state=${DEMO_STATE_DIR:-$HOME/.cache/ocpp_cp/demo}
cp_id=${CP_ID:-DEMO1}
csms_url=${CSMS_URL:-}
autostart=${DEMO_AUTOSTART:-0}
meter_interval=${DEMO_METER_INTERVAL:-10}
stop_timeout=30

venv=${DEMO_VENV:-$(bash scripts/venv.sh)}  # DEMO_VENV: tests pass their own
py="$venv/bin/python"
mkdir -p "$state"
state=$(cd "$state" && pwd)
config="$state/config"

# One demo per state folder (children do not inherit the lock).
exec 8>"$state/.lock"
if ! flock -n 8; then
  echo "Another demo is running with $state (or set DEMO_STATE_DIR)." >&2
  exit 1
fi

port_free() {
  "$py" - "$1" <<'EOF'
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is fine
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
EOF
}
ports=("$http_port")
[ -z "$csms_url" ] && ports+=("$csms_port")
for port in "${ports[@]}"; do
  if ! port_free "$port"; then
    echo "Port $port on 127.0.0.1 is in use (set DEMO_HTTP_PORT / DEMO_CSMS_PORT)." >&2
    exit 1
  fi
done

# Each part in its own session, so that it is stopped as a process group, and in a fixed order.
# On Linux each part also gets SIGTERM when this script dies, however it dies (SIGKILL of a test
# run included, where no trap runs): a parent-death signal, so nothing is left as an orphan.
detach=("$py" -c '
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[1]):
        sys.exit(1)  # the script died before the signal was armed
os.setsid()
os.execvp(sys.argv[2], sys.argv[2:])
' "$$")

pids=()      # in start order; stopped in reverse
sleeper=""
stopping=0
alive() {  # running (not a zombie)
  local stat
  if [ -d /proc/self ]; then
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
  else
    kill -0 "$1" 2>/dev/null
  fi
}
stop_group() {  # SIGTERM the group, wait for its leader (bounded), then SIGKILL what is left
  local pid=$1 tick=0
  kill -TERM -- "-$pid" 2>/dev/null || true
  while alive "$pid" && [ "$tick" -lt $((stop_timeout * 10)) ]; do
    sleep 0.1
    tick=$((tick + 1))
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  # No `wait "$pid"` here: this runs in a trap that may have interrupted `wait` for the same
  # child as it exited, and bash can then block forever on a child it already reaped (seen
  # with the provisioning step). The script exits right after; init reaps what is left.
}
cleanup() {
  local status=$? i
  set +e  # a failed echo (the terminal is gone after SIGHUP) must not cut the stopping short
  trap '' INT TERM HUP
  [ "$stopping" = 1 ] && return
  stopping=1
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null || true
  if [ "${#pids[@]}" -gt 0 ]; then
    echo "[demo] stopping (at most ${stop_timeout} s per part)..." >&2
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      stop_group "${pids[$i]}"
    done
    echo "[demo] stopped" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 0' INT  # Ctrl-C is how the demo is meant to end: no "make: *** Error 130"
trap 'exit 143' TERM
trap 'exit 129' HUP

rm -f "$state/ready.json"
log_file="$state/csms.jsonl"
if [ -z "$csms_url" ]; then
  csms_url="ws://127.0.0.1:$csms_port/ocpp"
  # stdin stays the terminal (an explicit redirect: background jobs get /dev/null otherwise).
  "${detach[@]}" "$py" -u example/demo/csms.py --port "$csms_port" --stdin --log-file "$log_file" \
    --auto-start "$autostart" --meter-interval "$meter_interval" <&0 8>&- &
  pids+=($!)
  echo "[demo] CSMS on $csms_url, every frame is printed here and logged to $log_file"
else
  echo "[demo] using your CSMS at $csms_url (no local CSMS)"
fi

"$py" example/demo/ha_setup.py prepare --config "$config" --http-port "$http_port"
started=$(date +%s)
"${detach[@]}" "$py" -P example/demo/run_hass.py -c "$config" --skip-pip --log-no-color \
  >"$state/ha.log" 2>&1 </dev/null 8>&- &
hass_pid=$!
pids+=("$hass_pid")
echo "[demo] Home Assistant starting (log: $state/ha.log)..."

provision=(--url "http://127.0.0.1:$http_port" --state "$state" --hass-pid "$hass_pid")
if [ "${DEMO_NO_ENTRY:-0}" != 1 ]; then
  provision+=(--csms-url "$csms_url" --cp-id "$cp_id" --auth-key "${CSMS_AUTH_KEY:-}")
fi
# In the background and waited for, so that a signal is handled at once.
"${detach[@]}" "$py" example/demo/ha_setup.py provision "${provision[@]}" </dev/null 8>&- &
setup_pid=$!
pids+=("$setup_pid")
setup_status=0
wait "$setup_pid" || setup_status=$?
unset 'pids[${#pids[@]}-1]'
if [ "$setup_status" != 0 ] || [ ! -f "$state/ready.json" ]; then
  echo "[demo] setting up Home Assistant failed; its log: $state/ha.log" >&2
  tail -n 20 "$state/ha.log" >&2 || true
  exit 1
fi

if grep -q '"entry_id": null' "$state/ready.json"; then
  cp_line="not set up: Settings > Devices & services > Add integration > OCPP Charge Point,
                  CSMS URL $csms_url, charge point ID $cp_id"
else
  cp_line="$cp_id -> $csms_url"
fi
logs="$state/ha.log"
[ -z "${CSMS_URL:-}" ] && logs="$logs, $log_file (OCPP frames)"
line="=========================================================================================="
cat <<EOF

$line
 ocpp_cp demo ready in $(($(date +%s) - started)) s
 Home Assistant   http://127.0.0.1:$http_port   login: demo / demo1234
 Charge point     $cp_line
 Simulated car    devices "Demo charger" and "Demo car" (Settings > Devices & services)
 Logs             $logs

 Start a charging session:
  * in Home Assistant: turn on "Demo car Plugged in", then "Demo charger Charging"
    (or Developer tools > Actions > ocpp_cp.start_transaction)
EOF
if [ -z "${CSMS_URL:-}" ]; then
  echo "  * from the CSMS: type  start  here (RemoteStartTransaction); also  stop, limit 10, help"
  if [ "$autostart" != 0 ]; then
    echo "  * or just plug the car in: the CSMS starts a session after ${autostart} s in Preparing"
  else
    echo "  * type  autostart 20  here and plugging the car in is enough (the CSMS starts a session)"
  fi
fi
cat <<EOF
 Ctrl-C stops everything.
$line

EOF

# Until Ctrl-C, or until a part exits by itself.
while :; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "[demo] a part of the demo exited (pid $pid); see $state/ha.log" >&2
      exit 1
    fi
  done
  sleep 1 8>&- &
  sleeper=$!
  wait "$sleeper" || true
  sleeper=""
done
