"""Integrity under provider faults and under load.

Faults: the provider is down, cut off, slow past the timeout, or answers garbage during the
code exchange (and at discovery, JWKS and userinfo). The webapp answers within its timeout
with a clear message, writes nothing, and the same session can retry.

Races: 50 completions of the linking flow for one MCID hit the callback at the same moment
through the real webapp (HTTP test clients in threads, the stub provider over real HTTP):
from two organizations, and twice from the same work user. The service-level race test is
tests/test_concurrency.py; this one adds the routes, the session state and the code exchange.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from tests.browser import Browser
from tests.flows import DEMO_PASSWORD, sign_in
from tests.oidc_stub import (FAULTS, MCID, ClosingServer, closed_port_url, stub, stub_app,  # noqa: F401
                             stub_browser)
from webapp import users
from webapp.extensions import db
from webapp.models import LearningIdentity, LinkAttempt, LinkedAccount, Organization

RETRY_MESSAGE = "Nothing was linked; please try again in a moment."


def start(browser: Browser, follow: bool = True):
    page = browser.open("/profile")
    return browser.submit(page, page.form_with(action_contains="/link/learn/start"), follow=follow)


def written(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(LinkedAccount)),
                db.session.scalar(select(func.count()).select_from(LearningIdentity)))


def assert_nothing_written_then_retry_works(app, browser, stub):
    assert written(app) == (0, 0)
    with app.app_context():
        attempt = db.session.scalars(select(LinkAttempt).order_by(LinkAttempt.id.desc())).first()
        assert attempt.outcome == "failed" and attempt.finished_at is not None
    stub.script.token_fault = None
    stub.script.delay = 0
    stub.script.discovery = {}
    stub.script.userinfo = {}
    page = start(browser)
    assert "is now linked" in page.text, page.text[:1500]
    assert written(app) == (1, 1)


# ---------------------------------------------------------------- token exchange faults

@pytest.mark.parametrize("fault", sorted(set(FAULTS) - {"no_id_token", "id_token_number",
                                                        "id_token_garbage"}))
def test_garbage_token_response(stub_app, stub_browser, stub, fault):
    stub.script.token_fault = fault
    started = time.monotonic()
    page = start(stub_browser)
    assert time.monotonic() - started < 5
    assert page.url == "http://localhost/profile" and page.status == 200
    assert RETRY_MESSAGE in page.text
    assert_nothing_written_then_retry_works(stub_app, stub_browser, stub)


@pytest.mark.parametrize("fault,message", [
    ("no_id_token", "did not return an ID token"),
    ("id_token_number", "did not return an ID token"),
    ("id_token_garbage", "is malformed"),
])
def test_token_response_without_a_usable_id_token(stub_app, stub_browser, stub, fault, message):
    stub.script.token_fault = fault
    page = start(stub_browser)
    assert message in page.text and "Nothing was linked" in page.text
    assert_nothing_written_then_retry_works(stub_app, stub_browser, stub)


def test_slow_token_endpoint_times_out_within_the_configured_timeout(stub_app, stub_browser, stub):
    timeout = stub_app.config["OIDC_HTTP_TIMEOUT"]  # 3 seconds in these tests
    stub.script.delay = timeout + 1.5
    started = time.monotonic()
    page = start(stub_browser)
    elapsed = time.monotonic() - started
    assert elapsed < timeout + 1.0, elapsed  # did not wait for the provider's answer
    assert RETRY_MESSAGE in page.text
    with stub_app.app_context():
        attempt = db.session.scalars(select(LinkAttempt)).one()
        assert any(s["step"] == "token_response" and s["detail"].get("error") == "timeout"
                   for s in attempt.steps)
    assert_nothing_written_then_retry_works(stub_app, stub_browser, stub)


def test_token_endpoint_down(stub_app, stub_browser, stub):
    stub.script.discovery = {"token_endpoint": closed_port_url() + "/token"}
    page = start(stub_browser)
    assert RETRY_MESSAGE in page.text
    # The discovery document with the dead endpoint is cached for this app: reload it.
    stub_app.extensions["learnlink_oauth"].create_client("learn").server_metadata = {}
    assert_nothing_written_then_retry_works(stub_app, stub_browser, stub)


def test_token_endpoint_hangs_up(stub_app, stub_browser, stub):
    closing = ClosingServer()
    try:
        stub.script.discovery = {"token_endpoint": closing.url + "/token"}
        page = start(stub_browser)
        assert RETRY_MESSAGE in page.text
    finally:
        closing.close()
    stub_app.extensions["learnlink_oauth"].create_client("learn").server_metadata = {}
    assert_nothing_written_then_retry_works(stub_app, stub_browser, stub)


# ---------------------------------------------------------------- the other hops

@pytest.mark.parametrize("where", ["jwks_down", "jwks_garbage", "userinfo_down", "userinfo_garbage"])
def test_jwks_and_userinfo_faults(stub_app, stub_browser, stub, where):
    if where == "jwks_down":
        stub.script.discovery = {"jwks_uri": closed_port_url() + "/jwks.json"}
    elif where == "jwks_garbage":
        stub.script.discovery = {"jwks_uri": stub.url + "/garbage/json_list"}
    elif where == "userinfo_down":
        stub.script.discovery = {"userinfo_endpoint": closed_port_url() + "/userinfo"}
    else:
        stub.script.discovery = {"userinfo_endpoint": stub.url + "/garbage/json_list"}
    page = start(stub_browser)
    assert page.url == "http://localhost/profile"
    assert "Nothing was linked" in page.text
    stub_app.extensions["learnlink_oauth"].create_client("learn").server_metadata = {}
    assert_nothing_written_then_retry_works(stub_app, stub_browser, stub)


@pytest.mark.parametrize("where", ["down", "html", "list", "hangs_up"])
def test_discovery_faults_at_start(stub_app, stub_browser, stub, where):
    client = stub_app.extensions["learnlink_oauth"].create_client("learn")
    closing = ClosingServer() if where == "hangs_up" else None
    bad = {"down": closed_port_url() + "/.well-known/openid-configuration",
           "html": stub.url + "/garbage/html", "list": stub.url + "/garbage/json_list",
           "hangs_up": closing.url + "/.well-known/openid-configuration" if closing else ""}[where]
    real = client._server_metadata_url
    client._server_metadata_url = bad
    client.server_metadata = {}
    try:
        page = start(stub_browser)
    finally:
        client._server_metadata_url = real
        if closing:
            closing.close()
    assert page.url == "http://localhost/profile"
    assert RETRY_MESSAGE in page.text
    assert stub.count("/authorize") == 0
    assert written(stub_app) == (0, 0)
    assert "is now linked" in start(stub_browser).text


def test_abandoned_flows_do_not_grow_the_session_cookie(stub_app, stub_browser, stub):
    """Pressing Associate again and again without finishing keeps the cookie small."""
    for _ in range(25):
        start(stub_browser, follow=False)
    cookie = stub_browser.client.get_cookie("pc_session")
    assert cookie is not None and len(cookie.value) < 3000
    with stub_browser.client.session_transaction() as sess:
        assert len([k for k in sess if k.startswith("_state_learn_")]) <= 3
    # The newest flow still completes.
    assert "is now linked" in start(stub_browser).text


# ---------------------------------------------------------------- 50 completions at once

COMPLETIONS = 50


def _prepare_users(app) -> list[str]:
    """15 extra work users in each demo organization."""
    emails = []
    with app.test_request_context():
        orgs = list(db.session.scalars(select(Organization).order_by(Organization.id)))
        for org in orgs:
            for n in range(15):
                email = f"racer{n}@{org.name.lower()}.example"
                users.create_work_user(org, email, f"Racer {n}", DEMO_PASSWORD)
                emails.append(email)
    return emails


def test_fifty_concurrent_callbacks_for_one_mcid_link_it_once(stub_app, stub):
    emails = _prepare_users(stub_app)
    # 20 users complete two flows each (same session, two states), 10 complete one: 50.
    callbacks: list[tuple[Browser, str]] = []
    for index, email in enumerate(emails):
        browser = Browser(stub_app.test_client())
        sign_in(browser, email)
        for _ in range(2 if index < 20 else 1):
            page = start(browser, follow=False)            # 302 to the stub's authorize
            back = browser.open(page.headers["Location"], follow=False)  # 302 to our callback
            callbacks.append((browser, back.headers["Location"]))
    assert len(callbacks) == COMPLETIONS
    assert len({email for email in emails}) == 30

    barrier = threading.Barrier(COMPLETIONS)
    results: list[tuple[int, str]] = [(0, "")] * COMPLETIONS

    def complete(index: int, browser: Browser, url: str):
        barrier.wait(timeout=60)
        try:
            page = browser.open(url)
            results[index] = (page.status, page.text)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            results[index] = (-1, repr(exc))

    threads = [threading.Thread(target=complete, args=(i, b, u)) for i, (b, u) in enumerate(callbacks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    statuses = [status for status, _text in results]
    assert statuses.count(500) == 0 and statuses.count(-1) == 0, [r for r in results if r[0] != 200]
    assert all(status == 200 for status in statuses)
    linked = [text for _s, text in results if "is now linked" in text]
    assert len(linked) == 1
    # Everyone else got a clear refusal, nobody a half-done state.
    for _status, text in results:
        assert "is now linked" in text or "associat" in text.lower() or "Nothing was linked" in text \
            or "already linked" in text

    with stub_app.app_context():
        rows = list(db.session.scalars(select(LinkedAccount)))
        assert len(rows) == 1 and rows[0].ended_at is None and rows[0].mcid == MCID
        [identity] = db.session.scalars(select(LearningIdentity))
        assert identity.association_count == 1
        outcomes = list(db.session.scalars(select(LinkAttempt.outcome)))
        assert outcomes.count("linked") == 1 and "pending" not in outcomes
        assert len(outcomes) == COMPLETIONS
