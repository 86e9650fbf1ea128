#!/usr/bin/env bash
# The LearnLink benchmark: bash bench/run.sh [--quick] [--only flow,exchange,...] [--results]
# Installs the tools it measures with (Debian wrk and sqlite3) and, inside bench/.work/, the peer
# providers; then prints one table. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${LEARNLINK_PYTHON:-}" ]; then
  PY=$LEARNLINK_PYTHON          # an existing environment (e.g. a shared checkout's .venv)
else
  source scripts/setup.sh       # creates .venv and installs requirements.txt when needed
  PY=.venv/bin/python
fi
missing=()
for tool in wrk sqlite3 node npm; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=(); for t in "${missing[@]}"; do case $t in npm) pkgs+=(npm);; node) pkgs+=(nodejs);; *) pkgs+=("$t");; esac; done
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
exec "$PY" -m bench.run "$@"
