#!/usr/bin/env bash
# Installs LearnLink and its test tools, then runs the whole test suite twice:
#   1. on SQLite (with the real-browser tests: Debian's Chromium driven by Playwright);
#   2. on a throwaway PostgreSQL cluster (127.0.0.1 only, removed afterwards), including the
#      run of both servers under gunicorn with several workers; tests marked database_neutral
#      (nothing in them depends on the database engine) ran in the first pass and are not repeated.
# Both runs are parallel: one pytest-xdist worker per core (TEST_WORKERS=N to choose, 0 for a
# serial run). Each worker starts its own live providers and uses its own SQLite files and
# PostgreSQL databases (tests/fixtures/databases.py); a test module runs whole on one worker.
# Any pytest arguments are passed on to both runs (e.g. `bash scripts/test.sh -k flow`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# Test tools from Debian: the PostgreSQL server, Chromium, and Node.js/npm for axe-core.
apt_install postgresql chromium fonts-noto-cjk  # the font: legible Chinese screenshots
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  npm install --prefix "$PWD" --no-save --no-audit --no-fund --loglevel=error axe-core@4 >/dev/null
fi

source scripts/pg.sh
trap pg_stop EXIT

summaries=$(mktemp)
status=0
run_pytest() {  # label, pytest args...
  local label=$1; shift
  echo "== $label =="
  set +e
  .venv/bin/python -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$summaries.out"
  local rc=${PIPESTATUS[0]}
  set -e
  echo "$label: $(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$summaries.out" | tail -n 1 | tr -d '=' | sed 's/^ *//')" >> "$summaries"
  [ "$rc" -eq 0 ] || status=$rc
}

parallel=(-n "${TEST_WORKERS:-auto}" --dist loadfile)
run_pytest "SQLite" "${parallel[@]}" "$@"

pg_start
export TEST_DATABASE_URL; TEST_DATABASE_URL=$(pg_create_db learnlink_test)
export TEST_IDP_DATABASE_URL; TEST_IDP_DATABASE_URL=$(pg_create_db learnlink_idp_test)
# The browser tests and the database-neutral ones ran above; the others run again on PostgreSQL.
run_pytest "PostgreSQL" "${parallel[@]}" -m "not real_browser and not database_neutral" "$@"
pg_stop

echo
cat "$summaries"
rm -f "$summaries" "$summaries.out"
exit "$status"
