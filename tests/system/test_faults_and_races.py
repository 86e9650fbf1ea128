"""Integrity under provider faults and under load.

Faults: the provider is down, cut off, slow past the timeout, or answers garbage during the
code exchange (and at discovery, JWKS and userinfo). The webapp answers within its timeout
with a clear message, writes nothing, and the same session can retry.

Races: 50 completions of the linking flow for one MCID hit the callback at the same moment
through the real webapp (HTTP test clients in threads, the stub provider over real HTTP):
from two organizations, and twice from the same work user.

Limits under concurrency (at the end): the same associations straight through the services,
several threads released together by a barrier.
"""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, select

from tests.fixtures.browser import Browser
from tests.fixtures.flows import DEMO_PASSWORD, sign_in
from tests.fixtures.oidc_stub import FAULTS, MCID, ClosingServer, closed_port_url
from webapp import clock, users
from webapp.extensions import db
from webapp.linking import rules
from webapp.linking import service as linking_service
from webapp.models import LEARN, LearningIdentity, LinkAttempt, LinkedAccount, Organization, WorkUser

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


# -------- The limits hold when several flows complete at the same moment --------
#
# Each thread has its own app context, hence its own database session and connection, and
# calls linking_service.associate_account on the test database (SQLite file, or TEST_DATABASE_URL).
# A barrier releases them together. Bounded: a few dozen threads, no sleeps.

ISSUER = "http://idp.test/learn"
THREADS_PER_SIDE = 12


def account(email: str, mcid: str) -> rules.PersonalAccount:
    return rules.PersonalAccount(provider=LEARN, issuer=ISSUER, subject=f"sub:{email}",
                                    email=email, display_name=email, mcid=mcid)


def race(app, jobs: list[tuple[str, rules.PersonalAccount]]) -> list[str]:
    """Run every (work email, account) association at once; return each outcome code."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = [""] * len(jobs)

    def run(index: int, work_email: str, personal: rules.PersonalAccount) -> None:
        with app.app_context():
            try:
                user = db.session.scalar(select(WorkUser).where(WorkUser.email == work_email))
                clock.now()  # read the clock before the start line, like a request would
                # Give the connection back: the pool is smaller than the crowd at the barrier.
                db.session.commit()
                barrier.wait(timeout=30)
                linking_service.associate_account(user, personal)
                outcomes[index] = "linked"
            except rules.LinkRefused as refused:
                outcomes[index] = refused.code
            except Exception as exc:  # noqa: BLE001 - any other error is a failure of the test
                outcomes[index] = f"error:{type(exc).__name__}:{exc}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, who, acc)) for i, (who, acc) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return outcomes


def state(app, mcids: list[str]) -> tuple[list[LinkedAccount], dict[str, int]]:
    with app.app_context():
        rows = list(db.session.scalars(select(LinkedAccount)))
        counts = {i.identity_key: i.association_count for i in db.session.scalars(
            select(LearningIdentity).where(LearningIdentity.identity_key.in_(mcids)))}
        for row in rows:
            db.session.expunge(row)
        return rows, counts


def assert_clean(outcomes: list[str]) -> None:
    errors = [o for o in outcomes if o.startswith("error:")]
    assert not errors, errors


def test_same_mcid_from_two_organizations_at_once_links_exactly_once(app):
    mia = account("mia.mover@outlook.com", "555000111")
    jobs = [("mia@contoso.com", mia)] * THREADS_PER_SIDE + [("mia@fabrikam.com", mia)] * THREADS_PER_SIDE
    outcomes = race(app, jobs)
    assert_clean(outcomes)
    assert outcomes.count("linked") == 1, outcomes
    assert set(outcomes) - {"linked"} <= {"concurrent", "cool_off", "already_linked", "busy"}
    rows, counts = state(app, ["555000111"])
    assert len(rows) == 1 and rows[0].ended_at is None
    assert counts == {"555000111": 1}


def test_same_user_twice_at_once_links_exactly_once(app):
    """The same work user completing two flows at once: for one account, and for two MCIDs."""
    alex = account("alex.learner@outlook.com", "987654321")
    outcomes = race(app, [("alex@contoso.com", alex)] * THREADS_PER_SIDE)
    assert_clean(outcomes)
    assert outcomes.count("linked") == 1, outcomes
    rows, counts = state(app, ["987654321"])
    assert len(rows) == 1 and counts == {"987654321": 1}

    # Two different MCIDs for the same (other) work user: one active link per user.
    first, second = account("one@outlook.com", "100000001"), account("two@outlook.com", "100000002")
    jobs = [("carl@contoso.com", first if i % 2 else second) for i in range(2 * THREADS_PER_SIDE)]
    outcomes = race(app, jobs)
    assert_clean(outcomes)
    assert outcomes.count("linked") == 1, outcomes
    rows, counts = state(app, ["100000001", "100000002"])
    carl_rows = [r for r in rows if r.mcid in ("100000001", "100000002")]
    assert len(carl_rows) == 1 and carl_rows[0].ended_at is None
    # Only the identity whose link is recorded was counted; the other's bump was rolled back.
    assert counts.get(carl_rows[0].mcid) == 1
    assert sum(counts.values()) == 1


def test_a_locked_database_gives_a_clean_refusal_then_links(app, tmp_path):
    """A write lock held elsewhere longer than the wait: refused with a message, nothing written."""
    from tests.fixtures.servers import webapp_config
    from webapp import create_app
    from webapp.demo.seed import seed_demo

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    path = tmp_path / "locked.sqlite"
    config = webapp_config("http://127.0.0.1:9", f"sqlite:///{path}")
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 0.05}}
    locked_app = create_app(config)
    with locked_app.app_context():
        seed_demo(with_links=False)
        alex = db.session.scalar(select(WorkUser).where(WorkUser.email == "alex@contoso.com"))
        db.session.commit()
        holder = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another worker in the middle of a write
        try:
            try:
                linking_service.associate_account(alex, account("alex.learner@outlook.com", "987654321"))
            except rules.LinkRefused as refused:
                assert refused.code == "busy"
                assert refused.message.startswith("Partner Center is busy and could not record the association.")
            else:
                raise AssertionError("linked through a held write lock")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert db.session.scalar(select(LinkedAccount.id)) is None
        assert db.session.scalar(select(LearningIdentity.association_count)) in (None, 0)
        link = linking_service.associate_account(alex, account("alex.learner@outlook.com", "987654321"))
        assert link.ended_at is None
        db.session.remove()
        db.engine.dispose()
