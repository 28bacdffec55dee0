#!/usr/bin/env bash
# What the firmware tests need besides the virtualenv: MicroPython 1.27 as WebAssembly
# (npm @micropython/micropython-webassembly-pyscript, pinned in tests/firmware/node).
# Idempotent, and quick when the locked version is already installed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/tests/firmware/node"
name="@micropython/micropython-webassembly-pyscript"
installed="$dir/node_modules/$name/package.json"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "ci-firmware: Node.js 20 and npm are needed for the MicroPython test run" >&2
  exit 1
fi
if [ -f "$installed" ] && node -e '
  const [pkg, lock, name] = process.argv.slice(1);
  const want = require(lock).packages["node_modules/" + name].version;
  process.exit(require(pkg).version === want ? 0 : 1);
' "$installed" "$dir/package-lock.json" "$name"; then
  exit 0
fi
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
