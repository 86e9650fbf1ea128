"""A newcomer's first run prints only what a person needs: no log line that reads as an error
while the databases are created (scripts/run.sh runs these commands)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.database_neutral

REPO = Path(__file__).resolve().parents[2]


def flask(app: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", app, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_creating_the_providers_database_prints_no_log_line(tmp_path):
    env = {**os.environ, "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'idp.sqlite'}", "LOG_LEVEL": "INFO"}
    done = flask("idp_mock", "db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "No tables yet" not in output
    assert '"level"' not in output, output  # no JSON log line from the app itself
    # The second start (the tables exist now) registers the clients, silently too.
    again = flask("idp_mock", "seed-demo", env=env)
    assert again.returncode == 0 and '"level"' not in again.stdout + again.stderr


def test_run_script_shows_the_migrations_only_when_one_fails():
    script = (REPO / "scripts" / "run.sh").read_text()
    assert "quietly .venv/bin/flask --app idp_mock db upgrade" in script
    assert "quietly .venv/bin/flask --app webapp db upgrade" in script
    assert script.count("--log-level warning") == 2
