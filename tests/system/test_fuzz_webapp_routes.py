"""Every webapp route, every route parameter, hostile query strings: never a 5xx.

The routes come from the app's url_map (a route added later is covered without editing this
file). Route parameters are written into the path as raw text, so values no ``url_for`` would
build reach the app too: ids past 2⁶³ (SQLite's OverflowError was a 500), thousands of digits,
negative numbers, text where a number is expected. Each request is made anonymous, signed in as
a plain work user and as a Global admin. A deterministic sweep tries every route with every
special parameter; hypothesis then mixes routes, parameters and query strings.
Bounded: about 10 s on a quiet machine (964 requests).
"""
from __future__ import annotations

import re
from collections import Counter
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from common.request_hardening import MAX_ROW_ID
from tests.fixtures.databases import fuzz_examples
from tests.fixtures.flows import DEMO_PASSWORD, sign_in

SETTINGS = dict(deadline=None, derandomize=True, database=None, max_examples=fuzz_examples(400),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
STATS: Counter = Counter()

ROLES = {"anonymous": None, "user": "alex@contoso.com", "admin": "gloria.global@contoso.com"}
# POSTs that would end the fuzzing session or empty the database get no CSRF token (they then
# answer 400): sign-out (it ends every session of the user), the demo reset, deleting a user.
NO_TOKEN = {"auth.logout", "demo.reset", "admin.delete_user"}

PATH_VALUES = ["0", "1", "-1", "2", str(2**31 - 1), str(2**31), str(2**63 - 1), str(2**63), str(2**64), str(10**30), "9" * 5000,
               "1e3", "0x10", "１２", "x", "learn", "partner-university", "LEARN", "%00", "..",
               "<i>", "a" * 300]
HOSTILE = ["<script>alert(1)</script>", "' OR '1'='1' --", "\r\nSet-Cookie: x=1", "//evil.example",
           "https://evil.example", "9" * 5000, str(2**63), "-1", "NaN", "1e309", "\u202e", "𝕏🙂",
           "{{7*7}}", "%(x)s", "[]", "", "fr", "zh_Hant_TW", "xx", "../../etc/passwd"]
QUERY_NAMES = ["lang", "next", "state", "code", "error", "error_description", "page", "per_page",
               "user", "date", "days", "provider", "id", "format", "q", "on"]


def _signed_in(app, email: str | None):
    client = app.test_client()
    if email:
        login = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
        client.post("/login", data={"csrf_token": token, "email": email, "password": DEMO_PASSWORD})
        assert client.get("/profile").status_code == 200, email
    return client


def _clients(app) -> dict:
    if not hasattr(app, "_route_fuzz_clients"):
        app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 10**6
        app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 10**6
        app._route_fuzz_clients = {role: _signed_in(app, email) for role, email in ROLES.items()}
    return app._route_fuzz_clients


def _rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"),
                  key=lambda r: (r.rule, r.endpoint))


def _path(rule, values: dict) -> str:
    """The rule with each ``<converter:name>`` replaced by the raw (percent-encoded) value."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: quote(values[m.group(1)], safe=""), rule.rule)


def _csrf(client) -> str:
    page = client.get("/login" if client.get("/profile").status_code != 200 else "/profile")
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.get_data(as_text=True))
    return found.group(1) if found else ""


def _request(app, role: str, rule, values: dict, query: list[tuple[str, str]], method: str):
    client = _clients(app)[role]
    path = _path(rule, values)
    if query:
        path += "?" + urlencode([(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                                 for k, v in query])
    if method == "POST":
        data = {name: value for name, value in query}
        if rule.endpoint not in NO_TOKEN:
            data["csrf_token"] = _csrf(client)
        response = client.post(path, data=data)
    else:
        response = client.get(path)
    where = f"{method} {rule.rule}"
    STATS[where] += 1
    assert response.status_code < 500, (role, method, path[:200], response.status_code)
    if response.mimetype == "text/html":
        body = response.get_data(as_text=True)
        assert "<script>alert(1)</script>" not in body and "Traceback" not in body, (role, path[:200])
    return response


def _methods(rule) -> list[str]:
    return sorted((rule.methods or set()) & {"GET", "POST"})


def test_every_route_with_every_special_parameter(app):
    """The sweep: each route × each role × each special value of its parameters."""
    rules = _rules(app)
    assert len(rules) >= 30
    for rule in rules:
        for role in ROLES:
            for value in (PATH_VALUES if rule.arguments else [None]):
                values = {name: value for name in rule.arguments}
                for method in _methods(rule):
                    _request(app, role, rule, values, [("lang", "fr")] if value == "1" else [], method)
    # Every route was requested, with every method it has.
    assert {w.split(" ", 1)[1] for w in STATS} >= {r.rule for r in rules}
    # The ids past the database's range are a 404, for everyone.
    admin = _clients(app)["admin"]
    for path in ("/traces/9223372036854775808", "/traces/9223372036854775808.json",
                 "/admin/users/9223372036854775808/delete"):
        assert admin.get(path).status_code == 404, path


@settings(**SETTINGS)
@given(data=st.data())
def test_fuzz_routes_parameters_and_query_strings(app, data):
    rule = data.draw(st.sampled_from(_rules(app)))
    values = {name: data.draw(st.one_of(
        st.sampled_from(PATH_VALUES),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)))
        for name in rule.arguments}
    query = data.draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | st.text(min_size=1, max_size=10),
                                         st.sampled_from(HOSTILE) | st.text(max_size=60)), max_size=5))
    role = data.draw(st.sampled_from(sorted(ROLES)))
    method = data.draw(st.sampled_from(_methods(rule)))
    _request(app, role, rule, values, query, method)


def test_route_fuzz_counts_are_reported():
    if not STATS:
        pytest.skip("run with the fuzz tests above")
    print(f"\nROUTE FUZZ {sum(STATS.values())} requests over {len(STATS)} route/method pairs")


# -------- Ids in URLs --------
# One past the largest row id the databases store is a 404, never a 500.
#
# The id columns are INTEGER: 32-bit on PostgreSQL, 64-bit on SQLite; the bound is the smaller.

HUGE = [str(MAX_ROW_ID + 1), str(2**63), str(2**64), str(10**30), "9" * 5000]


@pytest.mark.parametrize("value", HUGE, ids=["2^31", "2^63", "2^64", "10^30", "5000-digits"])
def test_ids_past_the_database_range_are_404(browser, value):
    sign_in(browser, "gloria.global@contoso.com")
    for path in (f"/traces/{value}", f"/traces/{value}.json", f"/admin/users/{value}/delete"):
        assert browser.client.get(path).status_code == 404, path
    assert browser.client.post(f"/admin/users/{value}/delete").status_code in (400, 404)


def test_the_largest_row_id_is_still_routed(browser):
    sign_in(browser, "gloria.global@contoso.com")
    for path in (f"/traces/{MAX_ROW_ID}", f"/traces/{MAX_ROW_ID}.json", f"/admin/users/{MAX_ROW_ID}/delete"):
        assert browser.client.get(path).status_code == 404, path


def test_every_int_rule_uses_the_bounded_converter(app):
    from common.request_hardening import RowIdConverter

    int_rules = [(rule.rule, arg) for rule in app.url_map.iter_rules()
                 for arg, converter in (rule._converters or {}).items() if "int" in rule.rule]
    assert int_rules
    for rule in app.url_map.iter_rules():
        for arg, converter in rule._converters.items():
            if f"<int:{arg}>" in rule.rule:
                assert isinstance(converter, RowIdConverter), rule.rule
                assert converter.max <= MAX_ROW_ID
