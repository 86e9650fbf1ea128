"""Sign-in throttling on both apps, and the same answer in the same time for an unknown email and
a wrong password."""
from __future__ import annotations

import re
import time

from sqlalchemy import select, update

from tests.fixtures.flows import DEMO_PASSWORD, post_sign_in
from webapp import users
from webapp.auth import service as auth_service
from webapp.extensions import db
from webapp.models import LoginFailureWindow, Organization


def _csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


# ---------------------------------------------------------------- sign-in throttling

def test_account_is_throttled_after_five_failures_with_a_time_to_retry(app):
    client = app.test_client()
    for _ in range(5):
        response = post_sign_in(client, "alex@contoso.com", "wrong-password")
        assert response.status_code == 401
    blocked = post_sign_in(client, "alex@contoso.com", DEMO_PASSWORD)  # even the right password
    assert blocked.status_code == 429
    text = blocked.get_data(as_text=True)
    assert re.search(r"Too many failed sign-in attempts\. Try again at \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    assert client.get("/profile").status_code == 302  # still signed out
    # Another account from another address is not affected.
    other = app.test_client()
    response = other.post("/login", environ_base={"REMOTE_ADDR": "10.0.0.2"}, data={
        "csrf_token": _csrf_from(other.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.2"})
                                 .get_data(as_text=True)),
        "email": "pat@contoso.com", "password": DEMO_PASSWORD})
    assert response.status_code == 302


def test_unknown_email_is_throttled_the_same_way(app):
    client = app.test_client()
    statuses = [post_sign_in(client, "nobody@contoso.com", "whatever-pass").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_address_is_throttled_across_accounts(app):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 8
    client = app.test_client()
    for n in range(8):
        assert post_sign_in(client, f"sprayed{n}@contoso.com", "Winter2026!").status_code == 401
    assert post_sign_in(client, "alex@contoso.com", DEMO_PASSWORD).status_code == 429


def test_lock_out_ends_with_its_window_and_success_resets_the_account_count(app):
    client = app.test_client()
    for _ in range(5):
        post_sign_in(client, "alex@contoso.com", "wrong-password")
    assert post_sign_in(client, "alex@contoso.com", DEMO_PASSWORD).status_code == 429
    with app.app_context():  # the window passes (no sleeping: move the stored window back)
        db.session.execute(update(LoginFailureWindow).values(
            window_start=LoginFailureWindow.window_start - auth_service._throttle_window()))
        db.session.commit()
    assert post_sign_in(client, "alex@contoso.com", DEMO_PASSWORD).status_code == 302
    with app.app_context():
        keys = set(db.session.scalars(select(LoginFailureWindow.key)))
        assert "account:alex@contoso.com" not in keys


def test_failure_counts_are_shared_between_worker_processes(app, idp, tmp_path):
    """Two app instances on one database (as two gunicorn workers): one count."""
    from tests.fixtures.servers import webapp_config
    from webapp import create_app

    second = create_app(webapp_config(idp.url, app.config["SQLALCHEMY_DATABASE_URI"]))
    first_client, second_client = app.test_client(), second.test_client()
    for n in range(5):
        client = first_client if n % 2 else second_client
        assert post_sign_in(client, "alex@contoso.com", "wrong-password").status_code == 401
    assert post_sign_in(first_client, "alex@contoso.com", DEMO_PASSWORD).status_code == 429
    assert post_sign_in(second_client, "alex@contoso.com", DEMO_PASSWORD).status_code == 429
    with second.app_context():
        db.session.remove()
        db.engine.dispose()


def test_concurrent_failures_are_all_counted(app):
    import threading

    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 1000
    barrier = threading.Barrier(8)

    def fail():
        with app.app_context():
            barrier.wait()
            for _ in range(3):
                auth_service.record_sign_in_failure("alex@contoso.com", "10.9.9.9")
                db.session.commit()

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        counts = dict(db.session.execute(select(LoginFailureWindow.key, LoginFailureWindow.failures)).all())
    assert counts == {"account:alex@contoso.com": 24, "address:10.9.9.9": 24}


# ---------------------------------------------------------------- same answer, same time

def test_unknown_email_and_wrong_password_cost_the_same(app_ctx):
    """The dummy hash compare: both failures do one password hash check of the same cost.

    Timed at the service (no HTTP noise) with a hash made costlier than the test default so it
    dominates; the fastest of interleaved runs must be within 40% of each other (the fastest, not
    the median: other work on the machine only ever adds time). Without the dummy compare, an
    unknown email answers tens of times faster.
    """
    app_ctx.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:40000"
    org = db.session.scalar(select(Organization))
    users.create_work_user(org, "timing@contoso.com", "Timing", "Right-Passw0rd")
    auth_service.authenticate("warm-up@contoso.com", "x")  # builds the dummy hash once
    unknown, wrong = [], []
    for n in range(9):
        started = time.perf_counter()
        assert auth_service.authenticate(f"nobody{n}@contoso.com", "Wrong-Passw0rd") is None
        unknown.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert auth_service.authenticate("timing@contoso.com", "Wrong-Passw0rd") is None
        wrong.append(time.perf_counter() - started)
    fast, slow = sorted([min(unknown), min(wrong)])
    assert fast / slow > 0.6, (min(unknown), min(wrong))


def test_unknown_email_and_wrong_password_get_the_same_page(app):
    first = post_sign_in(app.test_client(), "alex@contoso.com", "wrong-password")
    second = post_sign_in(app.test_client(), "nobody@contoso.com", "wrong-password")
    assert first.status_code == second.status_code == 401

    def body(response):
        text = response.get_data(as_text=True)
        return re.sub(r'value="[^"]*"', "", text)  # CSRF token and echoed email differ
    assert body(first) == body(second)
