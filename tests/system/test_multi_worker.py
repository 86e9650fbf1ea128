"""Both servers under gunicorn with 4 workers each, on PostgreSQL, over real HTTP.

50 complete linking flows (sign in, link Partner University by signing up, remove) run from 5
concurrent clients. Nothing a flow needs may live in one worker's memory: the OAuth state is in
the signed session cookie, codes, tokens, keys and traces are in the databases, so any worker
can serve any step. Runs only when the suite is given a PostgreSQL server (scripts/test.sh does).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.fixtures.browser import HttpBrowser
from tests.fixtures.servers import FAST_HASH, free_port
from tests.fixtures.databases import create_scratch_database, drop_scratch_database, on_postgresql
from tests.fixtures.flows import provider_consent, remove_link, sign_in, sign_up_at_provider, start_link

pytestmark = [
    pytest.mark.multi_worker,
    pytest.mark.skipif(not on_postgresql(), reason="needs PostgreSQL (TEST_DATABASE_URL); "
                       "bash scripts/test.sh provides one"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
FLOWS = 50
CLIENTS = 5
RUN_DEADLINE_S = 240  # the whole run; a hung server fails the test instead of stalling CI
PASSWORD = "Runner-Passw0rd!"


def _start(app_name: str, port: int, env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}",
         f"wsgi:{app_name}"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited early:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(url + "/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or workers still booting
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready in {timeout}s:\n{log_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _flask(app_name: str, env: dict, *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "flask", "--app", app_name, *args],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _json_lines(path: Path) -> list[dict]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def _create_runners(database_url: str) -> None:
    """One work user per concurrent client (one active link per user and provider)."""
    from webapp import create_app, users
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "PASSWORD_HASH_METHOD": FAST_HASH})
    with app.app_context():
        org = users.create_organization("Runners", "5550001")
        for n in range(CLIENTS):
            users.create_work_user(org, f"runner{n}@runners.example", f"Runner {n}", PASSWORD)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def servers(tmp_path):
    web_db = create_scratch_database("gunicorn_webapp", tmp_path)
    idp_db = create_scratch_database("gunicorn_idp", tmp_path)
    web_port, idp_port = free_port(), free_port()
    web_url, idp_url = f"http://127.0.0.1:{web_port}", f"http://localhost:{idp_port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST"))},
        "DATABASE_URL": web_db, "IDP_DATABASE_URL": idp_db,
        "SECRET_KEY": "multi-worker-secret", "IDP_SECRET_KEY": "multi-worker-idp-secret",
        "IDP_PUBLIC_URL": idp_url, "WEBAPP_URL": web_url,
        "PASSWORD_HASH_METHOD": FAST_HASH, "IDP_PASSWORD_HASH": FAST_HASH,
        "LOG_LEVEL": "INFO",
    }
    # The documented deployment step: migrate both databases.
    _flask("idp_mock", env, "db", "upgrade")
    _flask("webapp", env, "db", "upgrade")
    _create_runners(web_db)
    logs = {"idp": tmp_path / "idp.log", "webapp": tmp_path / "webapp.log"}
    processes = {"idp": _start("idp_app", idp_port, env, logs["idp"])}
    try:
        _wait_ready(f"http://127.0.0.1:{idp_port}", processes["idp"], logs["idp"])
        processes["webapp"] = _start("app", web_port, env, logs["webapp"])
        _wait_ready(web_url, processes["webapp"], logs["webapp"])
        yield {"web_url": web_url, "idp_url": idp_url, "logs": logs, "web_db": web_db}
    finally:
        for process in processes.values():
            _stop(process)
        drop_scratch_database(web_db)
        drop_scratch_database(idp_db)


def _one_flow(web_url: str, runner: int, flow: int) -> str:
    browser = HttpBrowser(web_url)
    email = f"flow{flow:02d}.{runner}@pu-learners.example"
    page = sign_in(browser, f"runner{runner}@runners.example", PASSWORD)
    assert page.url.endswith("/profile"), page.url
    page = start_link(browser, "partner-university")
    assert "/partner-university/authorize" in page.url, page.url
    page = sign_up_at_provider(browser, page, email, f"Flow {flow}")
    page = provider_consent(browser, page)
    assert page.url.endswith("/profile") and "is now linked" in page.text and email in page.text, \
        (page.url, page.text[:1500])
    page = remove_link(browser, "partner-university")
    assert "Access removed" in page.text, page.text[:1500]
    return email


def test_fifty_link_flows_across_four_workers_each(servers):
    started = time.monotonic()
    failures: list[str] = []
    done: list[str] = []

    def runner(n: int) -> None:
        for flow in range(n, FLOWS, CLIENTS):
            if time.monotonic() - started > RUN_DEADLINE_S:
                failures.append(f"flow {flow}: run deadline passed")
                continue
            try:
                done.append(_one_flow(servers["web_url"], n, flow))
            except Exception as exc:  # every failure is reported, none stops the others
                failures.append(f"flow {flow}: {type(exc).__name__}: {str(exc)[:500]}")

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(runner, range(CLIENTS)))
    elapsed = time.monotonic() - started
    print(f"\n{len(done)} of {FLOWS} flows completed, {len(failures)} failed, in {elapsed:.1f}s "
          f"({WORKERS} gunicorn workers per server)")
    assert failures == [], failures
    assert len(done) == FLOWS and elapsed < RUN_DEADLINE_S

    # The database saw every flow: 50 links, all ended by the user.
    import sqlalchemy as sa

    engine = sa.create_engine(servers["web_db"], poolclass=sa.NullPool)
    with engine.connect() as conn:
        links = conn.execute(sa.text("SELECT ended_at, end_reason FROM linked_accounts")).all()
        outcomes = conn.execute(sa.text(
            "SELECT outcome, count(*) FROM link_attempts GROUP BY outcome")).all()
    engine.dispose()
    assert len(links) == FLOWS and all(row.ended_at is not None for row in links)
    assert dict(outcomes) == {"linked": FLOWS}

    # Several worker processes served each server, and each callback's back-channel calls
    # reached the providers under the callback's request id.
    web_lines, idp_lines = _json_lines(servers["logs"]["webapp"]), _json_lines(servers["logs"]["idp"])
    web_requests = [line for line in web_lines if line.get("message") == "request"]
    idp_requests = [line for line in idp_lines if line.get("message") == "request"]
    assert len({line["pid"] for line in web_requests}) >= 2
    assert len({line["pid"] for line in idp_requests}) >= 2
    assert not [line for line in web_requests + idp_requests if line["status"] >= 500]
    token_calls = {line["request_id"] for line in idp_requests
                   if line["path"] == "/partner-university/token"}
    callbacks = [line for line in web_requests if line["path"] == "/link/partner-university/callback"]
    assert len(callbacks) == FLOWS
    assert all(line["request_id"] in token_calls for line in callbacks)
