"""Property-based fuzzing of every provider route, every route parameter and every parameter the
providers read, with hostile strings: property, never an HTTP 5xx (nor a traceback).

Nothing is listed by hand that can be discovered: the routes and their methods come from the
app's url_map (a route added later is fuzzed without editing this file); the parameter names
are those the provider code reads (``request.args/form/values.get("…")`` and the QA API's JSON
keys, found in the source), every field of the provider's forms (with their prefixes), and the
OAuth 2.0 / OpenID Connect parameters Authlib reads. Two tests: a deterministic sweep (every
route and method × every path variable and parameter name × each hostile class once), then a
few random combinations per route with hypothesis (derandomized). About 3,000 requests, ~15 s.

A request starts from a valid base where one exists (a real client's authorize request, the
control token, a client's credentials, a session's CSRF token) so hostile values reach the code
behind the first check, not only the refusal in front of it.
"""
from __future__ import annotations

import base64
import inspect
import json
import re
from collections import Counter
from pathlib import Path
from urllib.parse import quote
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.routing.converters import NumberConverter
from wtforms.fields.core import UnboundField

from tests.fixtures.databases import fuzz_examples
from tests.fixtures.idp_helpers import CLIENT_IDS
from tests.fixtures.idp_helpers import CLIENT_SECRETS
from tests.fixtures.idp_helpers import RP_REDIRECTS
from tests.fixtures.idp_helpers import make_config

IDP_SOURCE = Path(__file__).resolve().parents[2] / "idp_mock"
CONTROL_TOKEN = "fuzz-control-token"
DEMO_PASSWORD = "Passw0rd!"
EXAMPLES_PER_ROUTE = fuzz_examples(6)
SETTINGS = settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, derandomize=True,
                    database=None, suppress_health_check=list(HealthCheck))
STATS: Counter = Counter()

# The hostile classes: control characters (CR/LF, tab, DEL, C1), backslash, quotes, non-ASCII
# (accents, CJK, RTL override, line separator, emoji, lone surrogate-adjacent code points),
# huge and odd numbers, markup and traversal fragments.
HOSTILE = [
    "\r\n", "a\r\nSet-Cookie: x=1", "\n", "\r", "\t", "\x7f", "\x01", "\x1b[31m", "\x85", "\x9f",
    "\\", "\\\\evil.example", "/\\evil.example", '"', "'", '"><i>', "`", "é", "中文", "\u202e",
    "\u2028", "\ufeff", "\U0001F642", "\ud7ff\ue000\uffff", "%00", "%0d%0a", "%", "%%", "+",
    str(2**63), str(2**63 - 1), str(2**64), "-" + str(2**63 + 1), "9" * 40, "1e309", "-1", "0",
    "NaN", "", " ", "A" * 3000, "../../etc/passwd", "//evil.example", "https://evil.example",
    "javascript:alert(1)", "null", "[]", "{}", "true", "learn", "partner-university",
]
HOSTILE_TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0x01, max_codepoint=0x9F,
                                   blacklist_categories=("Cs",)), max_size=12),
    st.builds(lambda a, b: a + b, st.sampled_from(["/learn/", "http://rp.example.com/callback/learn",
                                                   "code", "openid ", "transcript.read"]),
              st.sampled_from(HOSTILE)),
)
HUGE_INTS = st.one_of(st.sampled_from([0, 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30]),
                      st.integers(min_value=0, max_value=2**80))
JSON_VALUES = st.recursive(
    st.one_of(HOSTILE_TEXT, HUGE_INTS, st.integers(), st.floats(allow_nan=False), st.booleans(),
              st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)

OAUTH_PARAMETERS = [
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt", "max_age", "ui_locales", "id_token_hint", "login_hint",
    "post_logout_redirect_uri", "logout_hint", "grant_type", "code", "code_verifier",
    "client_secret", "refresh_token", "access_token", "claims", "request", "request_uri",
    "response_mode", "display", "acr_values", "sub",
]


def _names_read_by_the_code() -> tuple[list[str], list[str]]:
    """(query/form parameter names, JSON keys) that idp_mock's source reads."""
    params, keys = set(), set()
    for path in IDP_SOURCE.glob("*.py"):
        text = path.read_text()
        params.update(re.findall(r'request\.(?:args|form|values)\.(?:get|getlist)\(\s*"([^"]+)"',
                                 text))
        keys.update(re.findall(r'\bdata(?:\.get\(|\[)\s*"([A-Za-z_]+)"', text))
        keys.update(re.findall(r'\(\s*data,\s*"([A-Za-z_]+)"', text))
    return sorted(params), sorted(keys)


def _form_field_names() -> list[str]:
    """Every field of the providers' forms, with the prefixes the pages use."""
    from flask_wtf import FlaskForm

    import idp_mock.pages.forms
    import idp_mock.qa.panel

    names, prefixes = set(), {""}
    for module in (idp_mock.pages.forms, idp_mock.qa.panel):
        prefixes.update(value + "-" for name, value in vars(module).items()
                        if name.endswith("_PREFIX") and isinstance(value, str))
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, FlaskForm) and cls.__module__.startswith("idp_mock"):
                names.update(n for n in dir(cls) if isinstance(getattr(cls, n, None), UnboundField))
    return sorted(p + n for p in prefixes for n in names | {"csrf_token"})


QUERY_NAMES, JSON_KEYS = _names_read_by_the_code()
PARAM_NAMES = sorted(set(QUERY_NAMES) | set(OAUTH_PARAMETERS) | {"lang", "next", "step"})


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    from idp_mock import create_app
    from idp_mock.demo import seed_demo

    app = create_app(make_config(
        tmp_path_factory.mktemp("idp-fuzz") / "idp.sqlite", IDP_QA_MODE=True,
        IDP_CONTROL_TOKEN=CONTROL_TOKEN, IDP_PUBLIC_URL="http://localhost",
        LOGIN_MAX_FAILURES_PER_ACCOUNT=10**6, LOGIN_MAX_FAILURES_PER_ADDRESS=10**6))
    with app.app_context():
        seed_demo()
    return app


@pytest.fixture(scope="module")
def credentials(fuzz_app):
    """A client-credentials token, for the bearer-token endpoints."""
    basic = "Basic " + base64.b64encode(
        f"{CLIENT_IDS['learn']}:{CLIENT_SECRETS['learn']}".encode()).decode()
    response = fuzz_app.test_client().post(
        "/learn/token", data={"grant_type": "client_credentials", "scope": "transcript.read"},
        headers={"Authorization": basic})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"basic": basic, "bearer": "Bearer " + response.json["access_token"]}


def _signed_in_client(app):
    client = app.test_client()
    for issuer, email in (("learn", "alex.learner@outlook.com"),
                          ("partner-university", "pat.pu@outlook.com")):
        page = client.get(f"/{issuer}/signin").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        if token:
            client.post(f"/{issuer}/signin", data={"csrf_token": token.group(1), "email": email,
                                                   "password": DEMO_PASSWORD})
    return client


def _csrf(client) -> str:
    page = client.get("/learn/signin").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    return match.group(1) if match else ""


_SIGN_UPS = iter(range(10**9))


def _base_parameters(endpoint: str, issuer: str, method: str) -> dict:
    """A valid request of the endpoint, where one is needed to get past the first check."""
    if endpoint == "provider.authorize" and issuer in CLIENT_IDS:
        return {"response_type": "code", "client_id": CLIENT_IDS[issuer], "scope": "openid",
                "redirect_uri": RP_REDIRECTS[issuer], "state": "s", "nonce": "n",
                "code_challenge": "a" * 43, "code_challenge_method": "S256"}
    if endpoint == "provider.issue_token":
        return {"grant_type": "client_credentials", "scope": "transcript.read"}
    if endpoint == "pages.signin" and method == "POST":
        email = "alex.learner@outlook.com" if issuer == "learn" else "pat.pu@outlook.com"
        return {"email": email, "password": DEMO_PASSWORD, "next": f"/{issuer}/account"}
    if endpoint == "pages.signup" and method == "POST":
        return {"email": f"fuzz{next(_SIGN_UPS)}@example.com", "display_name": "Fuzz",
                "password": DEMO_PASSWORD, "confirm": DEMO_PASSWORD, "next": f"/{issuer}/account"}
    if endpoint.startswith("qa_panel."):
        return {"qa-clear-next": f"/{issuer}/account", "qa-next": f"/{issuer}/account"}
    return {}


def _headers(endpoint: str, credentials: dict) -> dict:
    """The credentials the endpoint asks for, so values get past the authentication."""
    if endpoint.split(".")[0] in ("qa_api",):
        return {"Authorization": f"Bearer {CONTROL_TOKEN}"}
    if endpoint == "provider.issue_token":
        return {"Authorization": credentials["basic"]}
    if endpoint in ("provider.userinfo", "provider.api_transcript"):
        return {"Authorization": credentials["bearer"]}
    return {}


def _route_methods(app) -> list[tuple[object, str]]:
    pairs = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            pairs.append((rule, method))
    return pairs


def _path(rule, values: dict[str, str]) -> str:
    """The rule's path with each variable given (percent-encoded), else a value that matches."""
    out = []
    for part in re.split(r"(<[^>]+>)", rule.rule):
        if not part.startswith("<"):
            out.append(part)
            continue
        name = part.strip("<>").split(":")[-1]
        converter = type(rule._converters[name]).__name__
        default = {"issuer": "learn", "email": "alex.learner@outlook.com"}.get(name, "1")
        value = values.get(name, default) or "x"
        out.append(quote(value, safe="@/" if converter == "PathConverter" else "@"))
    return "".join(out)


def _check(response, where: str, sent) -> None:
    STATS[where] += 1
    assert response.status_code < 500, (where, response.status_code, sent)
    if response.mimetype == "text/html":
        assert "Traceback" not in response.get_data(as_text=True)


def _send(app, client, rule, method, path, params, credentials, body_kind, json_body=None):
    headers = _headers(rule.endpoint, credentials)
    kwargs: dict = {"headers": headers}
    url = path
    encoded = [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
               for k, v in params.items()]
    if body_kind == "query" or method == "GET":
        url += ("?" + urlencode(encoded)) if encoded else ""
    elif body_kind == "form":
        token = _csrf(client)
        form = dict(params)
        for name in ("csrf_token", "qa-csrf_token", "qa-clear-csrf_token"):
            form.setdefault(name, token)
        kwargs["data"] = form
    else:
        kwargs["data"] = json.dumps(json_body if json_body is not None else params)
        kwargs["content_type"] = "application/json"
    sent = (method, url[:300], {k: v[:80] for k, v in params.items()}, str(json_body)[:200])
    # Not wrapped in try: the app runs with TESTING, so an exception in a view is raised here.
    response = client.open(url, method=method, **kwargs)
    _check(response, f"{method} {rule.rule}", sent)


# One value of each hostile class; a sweep sends each class once per parameter and route.
CLASSES = ["\r\nSet-Cookie: x=1", "\t", "\\", '"', "\u00e9\u4e2d\u202e", "\x7f\x85", "\x01\x1b",
           str(2**63), str(2**64), "\n//evil.example"]


def test_sweep_every_route_and_parameter_with_each_hostile_class(fuzz_app, credentials):
    """Deterministic: every route and method, every path variable and every parameter name,
    each hostile class once. A parameter of the endpoint's valid base is spoilt alone (so the
    others still get the request past the first check); the others all at once."""
    pairs = _route_methods(fuzz_app)
    names = sorted(set(PARAM_NAMES) | set(_form_field_names()))
    assert len(pairs) >= 30 and len(PARAM_NAMES) >= 25 and len(JSON_KEYS) >= 10
    for rule, method in pairs:
        # Signed in (both issuers); sign-up needs nobody signed in. One session per route:
        # a sign-out or a reset ends it, which only makes the later requests anonymous ones.
        client = fuzz_app.test_client() if rule.endpoint == "pages.signup" \
            else _signed_in_client(fuzz_app)
        path = _path(rule, {})
        kinds = ["query"] if method == "GET" else ["form", "json"]
        for hostile in CLASSES:
            for var in rule.arguments:  # each path variable spoilt in turn
                for value in ("x" + hostile, hostile):
                    _send(fuzz_app, client, rule, method, _path(rule, {var: value}),
                          {}, credentials, "query")
            for kind in kinds:
                base = _base_parameters(rule.endpoint, "learn", method)
                for name in base:
                    params = {**_base_parameters(rule.endpoint, "learn", method),
                              name: base[name] + hostile}
                    _send(fuzz_app, client, rule, method, path, params, credentials, kind)
                others = {n: f"/learn/account{hostile}" if n.endswith("next") else hostile
                          for n in names if n not in base and not n.endswith("csrf_token")}
                _send(fuzz_app, client, rule, method, path,
                      {**_base_parameters(rule.endpoint, "learn", method), **others},
                      credentials, kind)
        if method != "GET":
            # The JSON keys one at a time, each with a hostile string, a huge integer, a list
            # or an object in turn.
            for i, key in enumerate(JSON_KEYS):
                value = [CLASSES[i % len(CLASSES)], 2**64, [CLASSES[i % len(CLASSES)]],
                         {"x": CLASSES[i % len(CLASSES)]}][i % 4]
                _send(fuzz_app, client, rule, method, path, {}, credentials, "json",
                      json_body={key: value})
    assert {f"{m} {r.rule}" for r, m in pairs} <= set(STATS), "every route and method was tried"
    print(f"\nPROVIDER ROUTE SWEEP: {sum(STATS.values())} requests over {len(pairs)} routes and "
          f"methods, {len(names)} parameter names, {len(JSON_KEYS)} JSON keys")


@SETTINGS
@given(data=st.data())
def _random_request(app, credentials, rule, method, data) -> None:
    draw = data.draw
    values = {}
    for name in rule.arguments:
        if isinstance(rule._converters[name], NumberConverter):
            values[name] = str(draw(HUGE_INTS))
        elif draw(st.booleans()):
            values[name] = draw(HOSTILE_TEXT)
    path = _path(rule, values)
    issuer = values.get("issuer", "learn")
    client = _signed_in_client(app) if draw(st.booleans()) else app.test_client()
    params = dict(_base_parameters(rule.endpoint, issuer, method))
    base_names = sorted(params)
    for name in draw(st.lists(st.one_of(st.sampled_from(base_names or PARAM_NAMES),
                                        st.sampled_from(PARAM_NAMES),
                                        st.sampled_from(_form_field_names()),
                                        st.text(min_size=1, max_size=10)), max_size=4)):
        params[name] = draw(HOSTILE_TEXT)
    kind = "query" if method == "GET" else draw(st.sampled_from(["query", "form", "json"]))
    json_body = None
    if kind == "json":
        json_body = {k: draw(JSON_VALUES) for k in draw(st.lists(st.sampled_from(JSON_KEYS),
                                                                 max_size=5))}
    _send(app, client, rule, method, path, params, credentials, kind, json_body)


def test_fuzz_every_provider_route_with_random_combinations(fuzz_app, credentials):
    """Random combinations (hypothesis, derandomized): several hostile values at once, random
    names, JSON values of every type, huge integers in integer path variables."""
    pairs = _route_methods(fuzz_app)
    for rule, method in pairs:
        _random_request(fuzz_app, credentials, rule, method)
    print(f"\nPROVIDER ROUTE FUZZ: {sum(STATS.values())} requests in all")
