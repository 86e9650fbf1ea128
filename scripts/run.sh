#!/usr/bin/env bash
# Installs LearnLink, brings the databases (SQLite by default; DATABASE_URL and
# IDP_DATABASE_URL for PostgreSQL) to the latest migration, adds the demo data, and
# starts the mock identity providers (http://localhost:${IDP_PORT:-5001}) and the
# Partner Center webapp (http://127.0.0.1:${PORT:-5000}) under gunicorn
# (WORKERS processes each, default 2), with the data refresh worker. Ctrl-C stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

export PORT=${PORT:-5000}
export IDP_PORT=${IDP_PORT:-5001}
export IDP_PUBLIC_URL=${IDP_PUBLIC_URL:-http://localhost:$IDP_PORT}
export WEBAPP_URL=${WEBAPP_URL:-http://127.0.0.1:$PORT}

# QA/demo mode (the providers' own default is off): the Test scenario panel and the JSON
# control API. Both apps share the control token (the webapp's "Reset demo" calls the providers
# with it): the documented development default unless IDP_CONTROL_TOKEN is set.
export IDP_QA_MODE=${IDP_QA_MODE:-true}
export IDP_CONTROL_TOKEN=${IDP_CONTROL_TOKEN:-dev-qa-control-token}
# Partner Center's messages name the failed check when the providers are in QA mode.
export QA_MODE=${QA_MODE:-$IDP_QA_MODE}

# The installation operator (moves the clock, resets the demo, refreshes every organization):
# the demo guide's trainer account. Comma-separated work-user emails; none by default elsewhere.
export LEARNLINK_OPERATORS=${LEARNLINK_OPERATORS:-gloria.global@contoso.com}

export WORKERS=${WORKERS:-2}

# Start-up output is what a person needs: the migrations' step-by-step log only when one fails.
quietly() {
  local out
  if ! out=$("$@" 2>&1); then printf '%s\n' "$out" >&2; return 1; fi
}
quietly .venv/bin/flask --app idp_mock db upgrade
quietly .venv/bin/flask --app webapp db upgrade
echo "Databases are up to date."
.venv/bin/flask --app idp_mock seed-demo
.venv/bin/flask --app webapp seed-demo

pids=()
cleanup() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup INT TERM EXIT

# The providers run in their own process: the webapp's back-channel calls never wait on itself.
# gunicorn's own start lines (workers booting) are left out: warnings and errors still show.
.venv/bin/gunicorn -w "$WORKERS" -b "127.0.0.1:$IDP_PORT" --log-level warning 'wsgi:idp_app' &
pids+=($!)
.venv/bin/gunicorn -w "$WORKERS" -b "127.0.0.1:$PORT" --log-level warning 'wsgi:app' &
pids+=($!)
# The data refresh worker: runs the refreshes the Reports page queues, and the daily schedule.
.venv/bin/flask --app webapp refresh-worker --schedule &
pids+=($!)
echo
echo "  Partner Center:      $WEBAPP_URL   (e.g. alex@contoso.com / Passw0rd!)"
echo "  Identity providers:  $IDP_PUBLIC_URL/learn  and  $IDP_PUBLIC_URL/partner-university"
echo "  Press Ctrl-C to stop both."
echo
wait -n "${pids[@]}"
