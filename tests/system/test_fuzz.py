"""Property-based fuzzing of every form and query parameter of both servers.

Routes and forms are discovered, not listed: every rule of each app's url_map is requested
with random and hostile query strings, and every form found on the pages is posted back with
random, missing and repeated fields (with a valid CSRF token, so the values reach the code).
Properties: never an HTTP 500, and a reflected value is always HTML-escaped.

Bounded with max_examples (the PostgreSQL pass draws the first third of them: fuzz_examples in
tests/fixtures/databases.py) and derandomized, so the suite stays fast and repeatable.
"""
from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from werkzeug.routing.converters import NumberConverter

from tests.fixtures.browser import Page, _FormParser
from tests.fixtures.databases import fuzz_examples
from tests.fixtures.flows import DEMO_PASSWORD

# A cookie past the size browsers keep is a silent sign-out: treat the warning as a failure.
pytestmark = pytest.mark.filterwarnings("error:The '.*' cookie is too large")

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
STATS: Counter = Counter()

MARKER = '<i id="fz">'  # if this comes back unescaped, a value was reflected as HTML
HOSTILE = [
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' OR '1'='1' --",
    "'; DROP TABLE work_users; --", "1; SELECT pg_sleep(5)", "../../../../etc/passwd", "%00",
    "\x00", "\u202e\u202dabc", "\ud7ff\ue000\uffff", "𝕏🙂中文字", "A" * 5000, "-1", "0",
    "99999999999999999999999", "1e309", "NaN", "-Infinity", "[]", "{}", "null", "true",
    "javascript:alert(1)", "//evil.example", "https://evil.example", "\r\nSet-Cookie: x=1",
    "{{7*7}}", "{% raw %}", "${7*7}", "%(x)s", "%s%s%s%n", "\\", "'", '"', " ", "",
    "2026-02-30", "9999-12-31", "0000-00-00", "learn", "partner-university", "global_admin",
]
VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=120),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=20),
    st.builds(lambda s: MARKER + s + "</i>", st.text(max_size=20)),
    st.integers().map(str),
)
PARAM_NAMES = ["next", "lang", "state", "code", "error", "error_description", "iss", "page",
               "q", "date", "provider", "org", "user", "id", "sub", "format", "client_id",
               "redirect_uri", "response_type", "scope", "nonce", "code_challenge",
               "code_challenge_method", "prompt", "max_age", "login_hint", "id_token_hint",
               "post_logout_redirect_uri", "ui_locales", "kind", "days", "offset"]
NAMES = st.one_of(st.sampled_from(PARAM_NAMES), st.text(min_size=1, max_size=12))


def check(response, sent: list[str], where: str) -> None:
    STATS[where] += 1
    if response.status_code >= 500:
        STATS[where + " 5xx"] += 1
    assert response.status_code < 500, (where, response.status_code, sent[:5])
    if response.mimetype == "text/html":
        body = response.get_data(as_text=True)
        assert MARKER not in body, (where, "unescaped reflection")
        assert "<script>alert(1)</script>" not in body and "<img src=x onerror" not in body
        assert "Traceback" not in body


def _path_values(rule, draw) -> dict:
    values = {}
    for name in rule.arguments:
        if isinstance(rule._converters.get(name), NumberConverter):
            values[name] = draw(st.integers(min_value=0, max_value=2**31))
        elif name in ("provider", "issuer"):
            values[name] = draw(st.sampled_from(["learn", "partner-university", "x", "LEARN"]))
        else:
            values[name] = draw(st.text(alphabet=st.characters(blacklist_characters="/?#%",
                                                              blacklist_categories=("Cs",)),
                                        min_size=1, max_size=30))
    return values


def _get_rules(app):
    return sorted((r for r in app.url_map.iter_rules()
                   if "GET" in (r.methods or ()) and r.endpoint != "static"), key=lambda r: r.rule)


def _fuzz_query(app, client, data, where: str):
    rule = data.draw(st.sampled_from(_get_rules(app)))
    values = _path_values(rule, data.draw)
    with app.test_request_context():
        from flask import url_for
        try:
            path = url_for(rule.endpoint, **values)
        except Exception:  # a value the converter cannot build: not a request anyone can send
            return
    params = data.draw(st.lists(st.tuples(NAMES, VALUES), max_size=6))
    raw = data.draw(st.booleans())
    if raw:  # bytes that are not UTF-8, sent as is
        query = b"&".join(k.encode("utf-8", "surrogatepass") + b"=\xff\xfe" + v.encode("utf-8", "surrogatepass")
                          for k, v in params)
        # WSGI carries the raw query as latin-1 text: these bytes reach the app undecoded.
        response = client.get(path, environ_overrides={"QUERY_STRING": query.decode("latin-1")})
    else:
        response = client.get(path + "?" + urlencode(
            [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass")) for k, v in params]))
    check(response, [v for _k, v in params], where)


def _forms_on(app, client, paths: list[str]) -> list[tuple[str, str, dict]]:
    """(page path, form action, fields) for every POST form on the given pages."""
    found = []
    for path in paths:
        response = client.get(path)
        page = Page(path, response.status_code, response.get_data(as_text=True), {}, [])
        parser = _FormParser()
        parser.feed(page.text)
        for form in parser.forms:
            if form.method != "post" or "signout" in form.action or "logout" in form.action:
                continue  # signing out would end the fuzzing session
            action = urljoin("http://localhost" + path, form.action or path)
            parts = urlsplit(action)
            found.append((path, parts.path + (f"?{parts.query}" if parts.query else ""),
                          dict(form.fields)))
    return found


def _fuzz_form(client, forms, data, where: str):
    page_path, action, fields = data.draw(st.sampled_from(forms))
    fresh = client.get(page_path).get_data(as_text=True)  # a current CSRF token
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', fresh)
    form = {}
    for name in fields:
        if name == "csrf_token":
            continue
        choice = data.draw(st.sampled_from(["value", "value", "missing", "list"]))
        if choice == "value":
            form[name] = data.draw(VALUES)
        elif choice == "list":
            form[name] = data.draw(st.lists(VALUES, min_size=2, max_size=3))
    for name, value in data.draw(st.lists(st.tuples(NAMES, VALUES), max_size=3)):
        form.setdefault(name, value)
    if token and data.draw(st.integers(0, 9)) > 0:
        form["csrf_token"] = token.group(1)
    response = client.post(action, data=form)
    sent = [v if isinstance(v, str) else " ".join(v) for v in form.values()]
    check(response, sent, where)


# ---------------------------------------------------------------- webapp

def _webapp_admin_client(app):
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    client.post("/login", data={"csrf_token": token, "email": "gloria.global@contoso.com",
                                "password": DEMO_PASSWORD})
    return client


@settings(max_examples=fuzz_examples(150), **SETTINGS)
@given(data=st.data())
def test_fuzz_webapp_query_parameters(app, data):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 10**6
    client = getattr(app, "_fuzz_client", None) or _webapp_admin_client(app)
    app._fuzz_client = client
    anonymous = data.draw(st.booleans())
    _fuzz_query(app, app.test_client() if anonymous else client, data, "webapp GET")


@settings(max_examples=fuzz_examples(150), **SETTINGS)
@given(data=st.data())
def test_fuzz_webapp_forms(app, data):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 10**6
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 10**6
    client = getattr(app, "_fuzz_client", None) or _webapp_admin_client(app)
    app._fuzz_client = client
    if not hasattr(app, "_fuzz_forms"):
        pages = ["/login"] + [r.rule for r in _get_rules(app) if not r.arguments]
        app._fuzz_forms = _forms_on(app, client, pages) + _forms_on(app, app.test_client(), ["/login"])
        assert len(app._fuzz_forms) >= 3  # sign-in, associate, remove...
    _fuzz_form(client, app._fuzz_forms, data, "webapp POST")


# ---------------------------------------------------------------- providers

def _provider_client(idp):
    client = idp.app.test_client()
    for issuer, email in (("learn", "alex.learner@outlook.com"), ("partner-university", "pat.pu@outlook.com")):
        page = client.get(f"/{issuer}/signin").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        client.post(f"/{issuer}/signin", data={"csrf_token": token, "email": email,
                                               "password": DEMO_PASSWORD})
    return client


def _authorize_url(issuer: str) -> str:
    from tests.fixtures.browser import WEBAPP_ORIGIN
    client_id = "partner-center-learn" if issuer == "learn" else "partner-center-pu"
    return f"/{issuer}/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "scope": "openid profile email",
        "redirect_uri": f"{WEBAPP_ORIGIN}/link/{issuer}/callback", "state": "s", "nonce": "n",
        "code_challenge": "a" * 43, "code_challenge_method": "S256"})


@settings(max_examples=fuzz_examples(150), **SETTINGS)
@given(data=st.data())
def test_fuzz_provider_query_parameters(idp, data):
    anonymous = data.draw(st.booleans())
    _fuzz_query(idp.app, idp.app.test_client() if anonymous else _provider_client(idp), data,
                "provider GET")


@settings(max_examples=fuzz_examples(150), **SETTINGS)
@given(data=st.data())
def test_fuzz_provider_forms(idp, data):
    app = idp.app
    if not hasattr(app, "_fuzz_forms"):
        signed_in = _provider_client(idp)
        pages = []
        for issuer in ("learn", "partner-university"):
            pages += [f"/{issuer}/", f"/{issuer}/account", _authorize_url(issuer)]
        pages += ["/learn/account/settings", "/learn/account/certification-profile"]
        anonymous_pages = [f"/{i}/{p}" for i in ("learn", "partner-university") for p in ("signin", "signup")]
        app._fuzz_forms = [(signed_in, f) for f in _forms_on(app, signed_in, pages)] + \
            [(None, f) for f in _forms_on(app, app.test_client(), anonymous_pages + [_authorize_url("learn")])]
        assert len(app._fuzz_forms) >= 8
    owner, form = data.draw(st.sampled_from(app._fuzz_forms))
    client = owner or app.test_client()
    _fuzz_form(client, [form], data, "provider POST")


@settings(max_examples=fuzz_examples(120), **SETTINGS)
@given(issuer=st.sampled_from(["learn", "partner-university"]),
       endpoint=st.sampled_from(["token", "userinfo", "api/transcript", "logout"]),
       fields=st.lists(st.tuples(st.sampled_from(["grant_type", "code", "redirect_uri", "client_id",
                                                  "client_secret", "code_verifier", "scope",
                                                  "refresh_token", "id_token_hint", "sub",
                                                  "post_logout_redirect_uri", "state"]) | NAMES,
                                 VALUES), max_size=6),
       authorization=st.one_of(st.none(), st.sampled_from([
           "Basic cGFydG5lci1jZW50ZXItbGVhcm46dGVzdC1sZWFybi1zZWNyZXQ=",  # the real client
           "Basic Og==", "Basic !!!", "Bearer ", "Bearer x", "Negotiate abc"]),
           VALUES.map(lambda v: "Bearer " + v.replace("\n", "").replace("\r", ""))),
       method=st.sampled_from(["GET", "POST"]))
def test_fuzz_provider_protocol_endpoints(idp, issuer, endpoint, fields, authorization, method):
    """The JSON/bearer endpoints (no forms, no CSRF): token, userinfo, transcript API, end-session."""
    client = idp.app.test_client()
    headers = {"Authorization": authorization} if authorization else {}
    encoded = [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass")) for k, v in fields]
    path = f"/{issuer}/{endpoint}"
    try:
        if method == "POST":
            response = client.post(path, data=urlencode(encoded), headers=headers,
                                   content_type="application/x-www-form-urlencoded")
        else:
            response = client.get(path + "?" + urlencode(encoded), headers=headers)
    except ValueError:  # the test client refuses a header value no HTTP client could send
        return
    check(response, [v for _k, v in fields], "provider protocol")


@pytest.mark.parametrize("bad_token", ["not.a.jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "a" * 5000,
                                       "eyJhbGciOiJSUzI1NiIsImtpZCI6Ingi.e30.AAAA"])
def test_end_session_with_garbage_id_token_hint(idp, bad_token):
    response = idp.app.test_client().get("/learn/logout", query_string={
        "id_token_hint": bad_token, "post_logout_redirect_uri": "http://localhost/profile"})
    assert response.status_code < 500


def test_fuzz_counts_are_reported():
    """Runs after the fuzz tests in this module: prints what was tried (for SECURITY.md)."""
    if not STATS:
        pytest.skip("run with the fuzz tests")
    print("\nFUZZ " + ", ".join(f"{k}: {v}" for k, v in sorted(STATS.items())))
    assert not any(k.endswith("5xx") for k in STATS)
