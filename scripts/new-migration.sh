#!/usr/bin/env bash
# Writes a new migration for a model change:  bash scripts/new-migration.sh webapp|idp_mock "What changed"
# It brings a scratch SQLite database to the latest migration, then lets Alembic compare it with
# the models (`flask --app APP db migrate -m MESSAGE`). Review the generated file, then commit it.
set -euo pipefail
cd "$(dirname "$0")/.."
app=${1:?usage: new-migration.sh webapp|idp_mock "message"}
message=${2:?usage: new-migration.sh webapp|idp_mock "message"}
case "$app" in webapp|idp_mock) ;; *) echo "app must be webapp or idp_mock" >&2; exit 2 ;; esac
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export DATABASE_URL="sqlite:///$scratch/scratch.sqlite" IDP_DATABASE_URL="sqlite:///$scratch/scratch.sqlite"
.venv/bin/flask --app "$app" db upgrade
.venv/bin/flask --app "$app" db migrate -m "$message"
