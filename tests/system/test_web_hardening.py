"""Web hardening of both servers: CSRF everywhere, sessions, cookies, headers, throttling,
timing, error pages, logs, passwords and return URLs."""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import url_for
from sqlalchemy import select, update
from werkzeug.routing.converters import NumberConverter

from tests.fixtures.flows import DEMO_PASSWORD, link_account, sign_in
from webapp import users, validation
from webapp.auth import service as auth_service
from webapp.extensions import db
from webapp.models import LoginFailureWindow, Organization
from webapp.safe_urls import safe_next_url

REPO = Path(__file__).resolve().parents[2]
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _placeholder_args(rule) -> dict:
    values = {}
    for name in rule.arguments:
        converter = rule._converters.get(name)
        if isinstance(converter, NumberConverter):  # int, float and their subclasses
            values[name] = 1
        elif name in ("provider", "issuer"):
            values[name] = "learn"
        else:
            values[name] = "x"
    return values


def _state_changing_routes(app):
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) & STATE_CHANGING
        if methods and rule.endpoint != "static":
            yield rule, sorted(methods)


# ---------------------------------------------------------------- CSRF on every POST

def test_every_webapp_post_route_refuses_a_request_without_csrf_token(app):
    """Walks the url_map: a route added later is covered without editing this test."""
    from webapp.extensions import csrf

    assert csrf._exempt_views == set() and csrf._exempt_blueprints == set()
    client = app.test_client()
    login = client.get("/login")
    client.post("/login", data={"csrf_token": _csrf_from(login.get_data(as_text=True)),
                                "email": "gloria.global@contoso.com", "password": DEMO_PASSWORD})
    assert client.get("/profile").status_code == 200  # signed in as a Global admin
    checked = []
    for rule, methods in _state_changing_routes(app):
        with app.test_request_context():
            path = url_for(rule.endpoint, **_placeholder_args(rule))
        for method in methods:
            response = client.open(path, method=method, data={"anything": "1"})
            assert response.status_code == 400, (method, path, response.status_code)
            assert "The form may have expired" in response.get_data(as_text=True), path
            checked.append((method, rule.rule))
    # At least sign-in, sign-out, start linking and remove access.
    assert {"/login", "/logout", "/link/<provider>/start", "/link/<provider>/remove"} <= {
        r for _m, r in checked}


def test_every_provider_post_route_refuses_a_request_without_csrf_token(idp):
    """The same walk on the providers; only the documented bearer/JSON endpoints are exempt."""
    from idp_mock.extensions import csrf

    CSRF_EXEMPT_ENDPOINTS = ("idp_mock.provider.token.issue_token",
                             "idp_mock.provider.token.userinfo", "idp_mock.provider.logout.logout",
                             "idp_mock.provider.transcript.api_transcripts")
    assert csrf._exempt_views == set(CSRF_EXEMPT_ENDPOINTS)
    # The QA control API (reset, scenarios, catalog, and its per-issuer part "qa"): JSON with a
    # bearer token.
    bearer_blueprints = {"qa_api", "qa"}
    assert {bp.name for bp in csrf._exempt_blueprints} == bearer_blueprints
    app = idp.app
    client = app.test_client()
    exempt_endpoints = {location.rsplit(".", 1)[1] for location in CSRF_EXEMPT_ENDPOINTS}
    checked = []
    for rule, methods in _state_changing_routes(app):
        if rule.endpoint.split(".")[0] in bearer_blueprints:
            # Without the token nothing happens either.
            with app.test_request_context():
                path = url_for(rule.endpoint, **_placeholder_args(rule))
            for method in methods:
                assert client.open(path, method=method).status_code in (401, 404), path
    for issuer in ("learn", "partner-university"):
        for rule, methods in _state_changing_routes(app):
            if rule.endpoint.split(".")[-1] in exempt_endpoints \
                    or rule.endpoint.split(".")[0] in bearer_blueprints:
                continue
            args = {**_placeholder_args(rule), "issuer": issuer} if "issuer" in rule.arguments \
                else _placeholder_args(rule)
            with app.test_request_context():
                path = url_for(rule.endpoint, **args)
            for method in methods:
                response = client.open(path, method=method, data={"step": "signin",
                                                                  "email": "alex.learner@outlook.com",
                                                                  "password": DEMO_PASSWORD})
                assert response.status_code == 400, (method, path, response.status_code)
                assert "Location" not in response.headers
                assert "Your session expired" in response.get_data(as_text=True)
                checked.append(path)
    assert len(checked) >= 12


# ---------------------------------------------------------------- sessions and cookies

def test_webapp_session_is_renewed_at_sign_in(app):
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        sess["lang"] = "fr"
        before_token = sess["csrf_token"]
    login = client.get("/login")
    client.post("/login", data={"csrf_token": _csrf_from(login.get_data(as_text=True)),
                                "email": "alex@contoso.com", "password": DEMO_PASSWORD})
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("csrf_token") != before_token
        assert sess["lang"] == "fr"  # only the language choice is carried over
        assert sess["_user_id"]


def test_provider_session_is_renewed_at_sign_in(idp):
    client = idp.app.test_client()
    page = client.get("/learn/signin")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        old_token = sess["csrf_token"]
        sess["account:partner-university"] = {"id": 999, "auth_time": 1}
    response = client.post("/learn/signin", data={
        "csrf_token": _csrf_from(page.get_data(as_text=True)), "email": "alex.learner@outlook.com",
        "password": DEMO_PASSWORD})
    assert response.status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess and sess.get("csrf_token") != old_token
        assert sess["account:learn"]["id"]
        assert "account:partner-university" in sess  # the other issuer's sign-in is its own


def _set_cookie_headers(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


@pytest.mark.parametrize("secure", [False, True])
def test_webapp_cookie_flags(app, secure):
    app.config["SESSION_COOKIE_SECURE"] = secure
    client = app.test_client()
    login = client.get("/login")
    response = client.post("/login", data={"csrf_token": _csrf_from(login.get_data(as_text=True)),
                                           "email": "alex@contoso.com", "password": DEMO_PASSWORD})
    [cookie] = [c for c in _set_cookie_headers(response) if c.startswith("pc_session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie) is secure


@pytest.mark.parametrize("secure", [False, True])
def test_provider_cookie_flags(idp, secure):
    idp.app.config["SESSION_COOKIE_SECURE"] = secure
    try:
        client = idp.app.test_client()
        page = client.get("/learn/signin")
        response = client.post("/learn/signin", data={
            "csrf_token": _csrf_from(page.get_data(as_text=True)),
            "email": "alex.learner@outlook.com", "password": DEMO_PASSWORD})
        [cookie] = [c for c in _set_cookie_headers(response) if c.startswith("idp_session=")]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure
    finally:
        idp.app.config["SESSION_COOKIE_SECURE"] = False


def test_secure_cookie_flag_comes_from_the_environment(monkeypatch, tmp_path):
    import importlib

    import idp_mock.config as idp_config
    import webapp.config as webapp_config

    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    try:
        assert importlib.reload(webapp_config).Config.SESSION_COOKIE_SECURE is True
        assert importlib.reload(webapp_config).Config.REMEMBER_COOKIE_SECURE is True
        assert idp_config.config_from_env()["SESSION_COOKIE_SECURE"] is True
    finally:
        monkeypatch.delenv("SESSION_COOKIE_SECURE")
        importlib.reload(webapp_config)
    assert idp_config.config_from_env()["SESSION_COOKIE_SECURE"] is False


# ---------------------------------------------------------------- sign-in throttling

def _attempt(client, email, password):
    login = client.get("/login")
    return client.post("/login", data={"csrf_token": _csrf_from(login.get_data(as_text=True)),
                                       "email": email, "password": password})


def test_account_is_throttled_after_five_failures_with_a_time_to_retry(app):
    client = app.test_client()
    for _ in range(5):
        response = _attempt(client, "alex@contoso.com", "wrong-password")
        assert response.status_code == 401
    blocked = _attempt(client, "alex@contoso.com", DEMO_PASSWORD)  # even the right password
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
    statuses = [_attempt(client, "nobody@contoso.com", "whatever-pass").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_address_is_throttled_across_accounts(app):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 8
    client = app.test_client()
    for n in range(8):
        assert _attempt(client, f"sprayed{n}@contoso.com", "Winter2026!").status_code == 401
    assert _attempt(client, "alex@contoso.com", DEMO_PASSWORD).status_code == 429


def test_lock_out_ends_with_its_window_and_success_resets_the_account_count(app):
    client = app.test_client()
    for _ in range(5):
        _attempt(client, "alex@contoso.com", "wrong-password")
    assert _attempt(client, "alex@contoso.com", DEMO_PASSWORD).status_code == 429
    with app.app_context():  # the window passes (no sleeping: move the stored window back)
        db.session.execute(update(LoginFailureWindow).values(
            window_start=LoginFailureWindow.window_start - auth_service._throttle_window()))
        db.session.commit()
    assert _attempt(client, "alex@contoso.com", DEMO_PASSWORD).status_code == 302
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
        assert _attempt(client, "alex@contoso.com", "wrong-password").status_code == 401
    assert _attempt(first_client, "alex@contoso.com", DEMO_PASSWORD).status_code == 429
    assert _attempt(second_client, "alex@contoso.com", DEMO_PASSWORD).status_code == 429
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
    first = _attempt(app.test_client(), "alex@contoso.com", "wrong-password")
    second = _attempt(app.test_client(), "nobody@contoso.com", "wrong-password")
    assert first.status_code == second.status_code == 401

    def body(response):
        text = response.get_data(as_text=True)
        return re.sub(r'value="[^"]*"', "", text)  # CSRF token and echoed email differ
    assert body(first) == body(second)


# ---------------------------------------------------------------- headers, error pages

def _assert_csp(policy: str, form_action_must_include: list[str]):
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy and "*" not in policy.split()
    form_action = directives["form-action"].split()
    for origin in ["'self'", *form_action_must_include]:
        assert origin in form_action


def test_webapp_security_headers(app, browser, idp):
    sign_in(browser, "alex@contoso.com")
    for path in ("/login", "/profile", "/no-such-page"):
        response = app.test_client().get(path) if path != "/profile" else browser.client.get(path)
        headers = response.headers
        _assert_csp(headers["Content-Security-Policy"], [idp.url])
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Frame-Options"] == "DENY"


def test_provider_security_headers(idp):
    client = idp.app.test_client()
    for path in ("/learn/signin", "/partner-university/", "/learn/authorize?client_id=nobody"):
        headers = client.get(path).headers
        _assert_csp(headers["Content-Security-Policy"], [])
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def _form_action(headers) -> list[str]:
    policy = headers["Content-Security-Policy"]
    return dict(d.strip().split(" ", 1) for d in policy.split(";"))["form-action"].split()


def test_provider_forms_may_lead_only_to_the_authorization_requests_own_client(idp):
    """The consent and sign-in forms of an authorization request may end up at its registered
    redirect URI's origin (the form posts to /authorize, which redirects there); no other page's
    forms leave the provider, and an unregistered redirect URI adds nothing."""
    client = idp.app.test_client()
    request = ("/learn/authorize?response_type=code&client_id=partner-center-learn&scope=openid"
               "&redirect_uri=http://localhost/link/learn/callback&state=s&nonce=n")
    assert _form_action(client.get(request).headers) == ["'self'", "http://localhost"]
    signin = "/learn/signin?" + urlencode({"next": request})
    assert _form_action(client.get(signin).headers) == ["'self'", "http://localhost"]
    elsewhere = request.replace("http://localhost/link", "http://evil.example/link")
    assert _form_action(client.get(elsewhere).headers) == ["'self'"]
    other_issuer = request.replace("client_id=partner-center-learn", "client_id=partner-center-pu")
    assert _form_action(client.get(other_issuer).headers) == ["'self'"]
    assert _form_action(client.get("/learn/signin").headers) == ["'self'"]


def test_templates_have_no_inline_script_or_style():
    """What the CSP forbids must not be needed: no inline script, handler or style attribute."""
    offenders = []
    for template in (REPO / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\son[a-z]+\s*=", text) \
                or re.search(r"\sstyle\s*=", text) or "javascript:" in text or "<style" in text:
            offenders.append(template.name)
    assert offenders == []


def test_no_stack_trace_on_errors_in_either_app(app, tmp_path):
    import idp_mock
    from tests.fixtures.idp_helpers import make_config

    def explode():
        raise RuntimeError("secret internal detail")

    provider = idp_mock.create_app(make_config(tmp_path / "idp.sqlite"))
    for flask_app, path in ((app, "/__explode"), (provider, "/__explode")):
        flask_app.add_url_rule(path, "explode_" + str(id(flask_app)), explode)
        old = flask_app.config.get("PROPAGATE_EXCEPTIONS")
        flask_app.config["PROPAGATE_EXCEPTIONS"] = False
        try:
            response = flask_app.test_client().get(path)
        finally:
            flask_app.config["PROPAGATE_EXCEPTIONS"] = old
        text = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "Traceback" not in text and "secret internal detail" not in text
        assert "RuntimeError" not in text and "Something went wrong" in text


def test_debug_is_off_by_default():
    from idp_mock import create_app as create_idp
    from webapp.config import Config
    assert not getattr(Config, "DEBUG", False)
    assert create_idp.__module__  # the providers take DEBUG from Flask's default (False)


# ---------------------------------------------------------------- secrets never logged

def test_no_secret_in_any_log_record_across_a_full_flow(app, browser, idp, caplog):
    caplog.set_level(logging.DEBUG)
    client = app.extensions["learnlink_oauth"].create_client("learn")
    seen = {}
    original = client.fetch_access_token

    def capture(**kwargs):
        token = original(**kwargs)
        seen.update(code=kwargs["code"], verifier=kwargs["code_verifier"], **token)
        return token
    client.fetch_access_token = capture
    try:
        sign_in(browser, "alex@contoso.com")
        page = link_account(browser, "learn", "alex.learner@outlook.com")
    finally:
        del client.fetch_access_token
    assert "is now linked" in page.text
    # A provider debug line with a token in it was produced, and redacted.
    assert any("[redacted]" in r.getMessage() for r in caplog.records)
    secrets = {
        "webapp client secret": "test-learn-secret", "password": DEMO_PASSWORD,
        "authorization code": seen["code"], "PKCE verifier": seen["verifier"],
        "access token": seen["access_token"], "ID token": seen["id_token"],
        "ID token signature": seen["id_token"].rsplit(".", 1)[1],
    }
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + str(record.__dict__.get("exc_text") or "")
        for name, value in secrets.items():
            assert value not in text, f"{name} logged by {record.name}: {text[:200]}"
    assert len(caplog.records) > 5


# ---------------------------------------------------------------- passwords

def test_passwords_are_scrypt_hashed_by_default(app_ctx):
    from idp_mock.config import config_from_env
    from webapp.config import Config

    assert Config.PASSWORD_HASH_METHOD == "scrypt"
    assert config_from_env()["IDP_PASSWORD_HASH"] == "scrypt"
    app_ctx.config["PASSWORD_HASH_METHOD"] = Config.PASSWORD_HASH_METHOD
    org = db.session.scalar(select(Organization))
    user = users.create_work_user(org, "hash@contoso.com", "Hash", "Long-enough-1")
    assert user.password_hash.startswith("scrypt:")
    assert "Long-enough-1" not in user.password_hash


@pytest.mark.parametrize("length", [8, 64, 128, 200])
def test_webapp_accepts_long_passwords(app, length):
    password = ("Pw-9é中" * 60)[:length]
    with app.app_context():
        org = db.session.scalar(select(Organization))
        users.create_work_user(org, f"long{length}@contoso.com", "Long", password)
    assert _attempt(app.test_client(), f"long{length}@contoso.com", password).status_code == 302


def test_webapp_refuses_passwords_shorter_than_8(app):
    with app.test_request_context():
        org = db.session.scalar(select(Organization))
        with pytest.raises(validation.ValidationError, match="at least 8"):
            users.create_work_user(org, "short@contoso.com", "Short", "Seven77")


@pytest.mark.parametrize("length,accepted", [(7, False), (8, True), (128, True), (200, True)])
def test_provider_password_length(idp, length, accepted):
    client = idp.app.test_client()
    password = ("Pw-9é中" * 60)[:length]
    email = f"len{length}-{time.monotonic_ns()}@outlook.com"
    page = client.get("/partner-university/signup")
    response = client.post("/partner-university/signup", data={
        "csrf_token": _csrf_from(page.get_data(as_text=True)), "email": email,
        "display_name": "Len", "password": password, "confirm": password})
    if not accepted:
        assert response.status_code == 200 and "at least 8" in response.get_data(as_text=True)
        return
    assert response.status_code == 302
    fresh = idp.app.test_client()
    page = fresh.get("/partner-university/signin")
    signed_in = fresh.post("/partner-university/signin", data={
        "csrf_token": _csrf_from(page.get_data(as_text=True)), "email": email, "password": password})
    assert signed_in.status_code == 302


# ---------------------------------------------------------------- return URLs

HOSTILE_TARGETS = [
    "//evil.example", "https:evil.example", "/\\evil.example", "\\\\evil.example",
    "https://evil.example/profile", "http://localhost.evil.example/", "javascript:alert(1)",
    "%2F%2Fevil.example", "/%2F/evil.example", "/%5Cevil.example", "%5C%5Cevil.example",
    "/%252F%252Fevil.example", "/%09/evil.example", "/\t/evil.example", "/\r\nSet-Cookie:x=1",
    "//%65vil.example", "https%3A%2F%2Fevil.example", " //evil.example", "///evil.example",
    "data:text/html,<script>alert(1)</script>", "evil.example", "",
]


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_safe_next_url_falls_back_for_hostile_targets(target):
    assert safe_next_url(target, "/profile") == "/profile"


@pytest.mark.parametrize("target", ["/profile", "/profile?tab=learn", "/link/learn/start"])
def test_safe_next_url_keeps_local_paths(target):
    assert safe_next_url(target, "/fallback") == target


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_login_next_never_leaves_the_site(app, target):
    from urllib.parse import quote
    client = app.test_client()
    page = client.get("/login?next=" + quote(target, safe=""))
    response = client.post("/login?next=" + quote(target, safe=""), data={
        "csrf_token": _csrf_from(page.get_data(as_text=True)), "email": "alex@contoso.com",
        "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"


@pytest.mark.parametrize("target", HOSTILE_TARGETS + ["/partner-university/account", "/learn/../evil"])
def test_provider_next_never_leaves_the_issuer(idp, target):
    from urllib.parse import quote
    client = idp.app.test_client()
    page = client.get("/learn/signin?next=" + quote(target, safe=""))
    response = client.post("/learn/signin?next=" + quote(target, safe=""), data={
        "csrf_token": _csrf_from(page.get_data(as_text=True)),
        "email": "alex.learner@outlook.com", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/learn/") and not location.startswith("//")
    assert "evil" not in location or location == "/learn/../evil"


# ---------------------------------------------------------------- hostile bytes

def test_nul_characters_are_refused_with_400_on_both_apps(app, idp):
    """PostgreSQL refuses NUL in text; no field of ours can hold one: a clear 400, never a 500."""
    client = app.test_client()
    login = client.get("/login")
    response = client.post("/login", data={"csrf_token": _csrf_from(login.get_data(as_text=True)),
                                           "email": "alex\x00@contoso.com", "password": "x\x00"})
    assert response.status_code == 400
    assert client.get("/login?next=/profile%00").status_code == 400
    provider = idp.app.test_client()
    assert provider.get("/learn/authorize?client_id=partner-center-learn%00").status_code == 400
    assert provider.post("/learn/token", data={"grant_type": "authorization_code",
                                               "code": "a\x00"}).status_code == 400


def test_raw_non_utf8_query_bytes_do_not_break_either_app(app, idp):
    for flask_app, path in ((app, "/login"), (idp.app, "/learn/signin")):
        response = flask_app.test_client().get(path, environ_overrides={"QUERY_STRING": "next=\xff\xfe"})
        assert response.status_code == 200
