"""Web hardening of both servers: CSRF everywhere, sessions, cookies, headers, error pages,
logs and hostile bytes. Sign-in throttling and passwords with return URLs have their own files."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import url_for
from werkzeug.routing.converters import NumberConverter

from tests.fixtures.flows import DEMO_PASSWORD, link_account, sign_in

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
