#!/usr/bin/env bash
# Prints the path of a ready virtualenv for the pinned stack, building it only
# when no venv with the same requirements hash exists yet.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

find_python() {
  local candidates=()
  if command -v pyenv >/dev/null 2>&1; then
    local root; root=$(pyenv root)
    for v in "$root"/versions/3.14* "$root"/versions/3.13*; do
      [ -x "$v/bin/python3" ] && candidates+=("$v/bin/python3")
    done
  fi
  for name in python3.14 python3.13 python3; do
    command -v "$name" >/dev/null 2>&1 && candidates+=("$(command -v "$name")")
  done
  for py in "${candidates[@]}"; do
    if "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 13) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "No Python >= 3.13 found (Home Assistant 2026.2 needs it)." >&2
  return 1
}

hash=$(cat "$here/requirements_test.txt" "$here/scripts/venv.sh" | sha256sum | cut -c1-16)
root=${OCPP_CP_VENV_ROOT:-$HOME/.cache/ocpp_cp}
venv="$root/venv-$hash"
mkdir -p "$root"
# One build at a time: a second caller waits for the first and then reuses its venv.
exec 9>"$root/.build-lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  py=$(find_python)
  echo "Building virtualenv $venv with $py (about 5 minutes)..." >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q --ignore-requires-python -r "$here/requirements_test.txt" >&2
  touch "$venv/.complete"
fi
echo "$venv"
