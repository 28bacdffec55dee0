#!/usr/bin/env bash
# Installs Debian packages with apt-get, as root or through sudo: `scripts/apt-install.sh PKG...`.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "Missing Debian packages ($*) and this is not root (and there is no sudo): install them." >&2
  exit 1
fi
echo "Installing $* with apt-get..." >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2
