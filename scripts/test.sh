#!/usr/bin/env bash
# Installs LearnLink and its test tools, then runs the whole test suite twice, side by side:
#   1. on SQLite (with the real-browser tests: Debian's Chromium driven by Playwright);
#   2. on a throwaway PostgreSQL cluster (127.0.0.1 only, removed afterwards), including the
#      run of both servers under gunicorn with several workers; tests marked database_neutral
#      (nothing in them depends on the database engine) run on SQLite only.
# Each run is parallel too: one pytest-xdist worker per core (TEST_WORKERS=N to choose, 0 for a
# serial run). Each worker starts its own live providers and uses its own SQLite files and
# PostgreSQL databases (tests/fixtures/databases.py); a test module runs whole on one worker.
# Any pytest arguments are passed on to both runs (e.g. `bash scripts/test.sh -k flow`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# Bytecode caches on, whatever the environment says: the suite starts dozens of Python processes
# (pytest workers, CLI and gunicorn subprocesses), and without them each one compiled LearnLink's
# modules and rewrote the tests' asserts again (10% of the SQLite run's CPU; collection 3.8 → 1.7 s).
unset PYTHONDONTWRITEBYTECODE

# Test tools from Debian: the PostgreSQL server, Chromium, and Node.js/npm for axe-core.
apt_install postgresql chromium fonts-noto-cjk  # the font: legible Chinese screenshots
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  npm install --prefix "$PWD" --no-save --no-audit --no-fund --loglevel=error axe-core@4 >/dev/null
fi

source scripts/pg.sh

work=$(mktemp -d)
trap 'pg_stop; rm -rf "$work"' EXIT
run_pytest() {  # label, pytest args...: output to $work/<label>.out, exit status to $work/<label>.rc
  local label=$1; shift
  set +e
  # Each run its own temporary folder: neither run's clean-up can touch the other's files.
  .venv/bin/python -m pytest -q -p no:cacheprovider --basetemp "$work/tmp-$label" "$@" > "$work/$label.out" 2>&1
  echo $? > "$work/$label.rc"
  set -e
}
show_live() {  # label, pid: that run's output as it comes, until the run ends
  tail -n +1 -f "$work/$1.out" --pid "$2" 2>/dev/null || true
}
summary() {  # label: the last pytest count line of that run
  echo "$1: $(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$work/$1.out" | tail -n 1 | tr -d '=' | sed 's/^ *//')"
}

parallel=(-n "${TEST_WORKERS:-auto}" --dist loadfile)
pg_start
pg_learnlink=$(pg_create_db learnlink_test)
pg_idp=$(pg_create_db learnlink_idp_test)
# The two runs go side by side: separate databases, ports and temporary folders, and each spends
# enough time waiting (on Chromium, sockets, deadlines) for the other to use the cores.
# The browser tests and the database-neutral ones run on SQLite only; the others on both.
TEST_DATABASE_URL=$pg_learnlink TEST_IDP_DATABASE_URL=$pg_idp \
  run_pytest PostgreSQL "${parallel[@]}" -m "not real_browser and not database_neutral" "$@" &
postgresql_run=$!
touch "$work/SQLite.out"
run_pytest SQLite "${parallel[@]}" "$@" &
sqlite_run=$!
echo "== SQLite (PostgreSQL runs alongside; its output follows) =="
show_live SQLite "$sqlite_run"
wait "$sqlite_run" "$postgresql_run"
pg_stop
echo "== PostgreSQL =="
cat "$work/PostgreSQL.out"

status=0
for label in SQLite PostgreSQL; do
  [ "$(cat "$work/$label.rc")" -eq 0 ] || status=1
done
echo
summary SQLite
summary PostgreSQL
exit "$status"
