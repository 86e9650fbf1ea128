#!/usr/bin/env bash
# Installs LearnLink and its test tools, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
