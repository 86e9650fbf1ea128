"""The flow inspector: what a trace records, who may see it, its JSON, retention, and no secrets."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from tests.fixtures.browser import Browser
from tests.fixtures.servers import webapp_config
from tests.fixtures.databases import webapp_database_url
from tests.fixtures.flows import link_account, sign_in, start_link
from webapp import clock, simulated_clock
from webapp.extensions import db
from webapp.linking import oidc
from webapp.models import LinkAttempt, WorkUser
from webapp.traces import recorder


def attempts(app) -> list[LinkAttempt]:
    with app.app_context():
        rows = list(db.session.scalars(select(LinkAttempt).order_by(LinkAttempt.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def step(attempt: LinkAttempt, name: str) -> dict:
    found = [s for s in attempt.steps if s["step"] == name]
    assert found, f"no {name} step in {[s['step'] for s in attempt.steps]}"
    return found[-1]


def names(attempt: LinkAttempt) -> list[str]:
    return [s["step"] for s in attempt.steps]


# --------------------------------------------------------------------------- what is recorded

def test_successful_flow_records_every_hop_and_check(app, browser, idp):
    sign_in(browser, "alex@contoso.com")
    link_account(browser, "learn", "alex.learner@outlook.com")
    [attempt] = attempts(app)
    assert attempt.outcome == "linked" and attempt.finished_at is not None
    assert "is now linked" in attempt.message

    discovery = step(attempt, "discovery")
    assert discovery["ok"] is True and discovery["detail"]["issuer"] == f"{idp.url}/learn"
    assert discovery["detail"]["endpoints"]["token_endpoint"] == f"{idp.url}/learn/token"

    request = step(attempt, "authorization_request")["detail"]
    assert request["url"] == f"{idp.url}/learn/authorize"
    params = request["parameters"]
    assert params["response_type"] == "code" and params["client_id"] == "partner-center-learn"
    assert params["redirect_uri"] == "http://localhost/link/learn/callback"
    assert set(params["scope"].split()) >= {"openid", "profile", "email"}
    assert params["code_challenge_method"] == "S256" and request["code_challenge_method"] == "S256"
    assert len(params["state"]) > 10 and len(params["nonce"]) > 10 and params["code_challenge"]

    back = step(attempt, "redirect_back")["detail"]
    assert back["parameters"]["state"] == params["state"]
    assert back["parameters"]["code"].endswith("…")
    assert step(attempt, "check_state")["ok"] is True

    token_request = step(attempt, "token_request")["detail"]
    assert token_request["url"] == f"{idp.url}/learn/token"
    assert token_request["parameters"]["grant_type"] == "authorization_code"
    assert token_request["parameters"]["code"] == back["parameters"]["code"]
    token_response = step(attempt, "token_response")
    assert token_response["ok"] is True
    assert token_response["detail"]["body"]["token_type"].lower() == "bearer"

    decoded = step(attempt, "id_token_decoded")["detail"]
    assert decoded["header"]["alg"] == "RS256" and decoded["header"]["kid"]
    assert decoded["claims"]["iss"] == f"{idp.url}/learn"
    assert decoded["claims"]["nonce"] == params["nonce"]
    assert decoded["claims"]["mcid"] == "987654321"
    for check in ("check_alg", "check_signature", "check_iss", "check_sub", "check_aud", "check_exp",
                  "check_iat", "check_nonce", "check_at_hash"):
        assert step(attempt, check)["ok"] is True, check

    userinfo = step(attempt, "userinfo")
    assert userinfo["ok"] is True and userinfo["detail"]["claims"]["sub"] == decoded["claims"]["sub"]
    assert step(attempt, "rules")["ok"] is True
    assert step(attempt, "link_recorded")["detail"]["mcid"] == "987654321"
    outcome = step(attempt, "outcome")
    assert (outcome["ok"], outcome["detail"]["outcome"]) == (True, "linked")
    assert names(attempt)[-1] == "outcome"


def test_cancel_refusal_and_state_failures_are_traced(app, browser):
    sign_in(browser, "nina@contoso.com")
    page = start_link(browser, "learn")
    browser.submit(page, page.form_with(button="Cancel"), button="Cancel")
    link_account(browser, "learn", "nina.nomcid@outlook.com")
    browser.open("/link/learn/callback?code=forged-code-value&state=forged-state")
    cancelled, refused, foreign = attempts(app)

    assert cancelled.outcome == "cancelled"
    assert step(cancelled, "redirect_back")["detail"]["parameters"]["error"] == "access_denied"
    assert "token_request" not in names(cancelled)
    assert step(cancelled, "outcome")["detail"]["check"] == "access_denied"

    assert refused.outcome == "refused" and "MCID" in refused.message
    rules = step(refused, "rules")
    assert (rules["ok"], rules["detail"]["code"]) == (False, "no_mcid")
    assert step(refused, "check_signature")["ok"] is True  # the token was fine, the rules said no

    # A response that belongs to no flow gets its own trace: nothing appended to a finished one.
    assert foreign.outcome == "failed" and names(foreign)[:2] == ["redirect_back", "check_state"]
    assert step(foreign, "check_state")["ok"] is False
    assert step(foreign, "outcome")["detail"]["check"] == "state_mismatch"
    assert "forged-code-value" not in json.dumps(foreign.steps)


@pytest.fixture
def wrong_secret_app(idp, tmp_path):
    """A webapp whose Learn client secret the provider does not know: the token request fails."""
    from webapp import create_app
    from webapp.demo.seed import seed_demo

    config = webapp_config(idp.url, webapp_database_url(tmp_path / "wrong-secret.sqlite"))
    config["LEARN_CLIENT_SECRET"] = "wrong-secret-that-must-never-show"
    app = create_app(config)
    with app.app_context():
        seed_demo()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_token_failure_is_traced(wrong_secret_app):
    browser = Browser(wrong_secret_app.test_client())
    sign_in(browser, "alex@contoso.com")
    page = link_account(browser, "learn", "alex.learner@outlook.com")
    assert "Nothing was linked" in page.text
    [attempt] = attempts(wrong_secret_app)
    assert attempt.outcome == "failed"
    response = step(attempt, "token_response")
    assert response["ok"] is False and response["detail"]["error"] == "invalid_client"
    assert "id_token_decoded" not in names(attempt)
    assert step(attempt, "outcome")["detail"]["check"] == "token_error:invalid_client"


# --------------------------------------------------------------------------- never a secret

class Captured:
    """The real secrets of a flow, caught by spies around the real relying-party functions."""

    def __init__(self, monkeypatch):
        self.values: dict[str, str] = {}
        real_pop, real_exchange = oidc.pop_state_data, oidc.exchange_code

        def pop_state_data(provider, state):
            data = real_pop(provider, state)
            if data:
                self.values["code_verifier"] = data["code_verifier"]
            return data

        def exchange_code(provider, code, state_data, trace):
            self.values["code"] = code
            token = real_exchange(provider, code, state_data, trace)
            self.values["access_token"] = token["access_token"]
            self.values["id_token"] = token["id_token"]
            return token

        monkeypatch.setattr(oidc, "pop_state_data", pop_state_data)
        monkeypatch.setattr(oidc, "exchange_code", exchange_code)


def _everything_shown(browser, app) -> str:
    shown = [browser.open("/traces").text, browser.open("/profile").text]
    for attempt in attempts(app):
        shown.append(browser.open(f"/traces/{attempt.id}").text)
        shown.append(browser.open(f"/traces/{attempt.id}.json").text)
    return "\n".join(shown)


def _assert_absent(secrets: dict[str, str], shown: str) -> None:
    for name, value in secrets.items():
        assert len(value) >= 16, (name, value)  # a real secret, not an empty capture
        assert value not in shown, f"the full {name} appears in the inspector"
        assert value not in shown.replace("&#34;", '"'), name


def test_no_secret_in_traces_of_success_cancel_and_token_failure(app, browser, idp, monkeypatch,
                                                                 wrong_secret_app):
    captured = Captured(monkeypatch)
    sign_in(browser, "alex@contoso.com")
    page = start_link(browser, "learn")
    browser.submit(page, page.form_with(button="Cancel"), button="Cancel")
    cancel_verifier = captured.values.pop("code_verifier")
    link_account(browser, "learn", "alex.learner@outlook.com")
    callback = next(url for _m, url, _s in browser.hops if "/callback?code=" in url)
    assert parse_qs(urlsplit(callback).query)["code"] == [captured.values["code"]]
    with idp.app.app_context():  # the captured access token is the provider's real one
        from idp_mock.models import Token, db as idp_db
        assert idp_db.session.scalar(select(Token.id).where(
            Token.access_token == captured.values["access_token"]))
    secrets = {**captured.values, "cancel_code_verifier": cancel_verifier,
               "client_secret": app.config["LEARN_CLIENT_SECRET"]}
    shown = _everything_shown(browser, app)
    assert "is now linked" in shown and "cancelled" in shown.lower()
    _assert_absent(secrets, shown)
    # The inspector does show the short prefixes: the pages searched are the ones with the hops.
    assert captured.values["code"][:6] + "…" in shown

    failing = Browser(wrong_secret_app.test_client())
    captured.values.clear()
    sign_in(failing, "alex@contoso.com")
    link_account(failing, "learn", "alex.learner@outlook.com")
    assert set(captured.values) == {"code_verifier", "code"}
    shown = _everything_shown(failing, wrong_secret_app)
    assert "invalid_client" in shown
    _assert_absent({**captured.values, "client_secret": wrong_secret_app.config["LEARN_CLIENT_SECRET"]}, shown)


# --------------------------------------------------------------------------- pages and access

def test_timeline_page_renders_parameters_jwt_and_badges(app, browser):
    sign_in(browser, "alex@contoso.com")
    link_account(browser, "learn", "alex.learner@outlook.com")
    [attempt] = attempts(app)
    page = browser.open(f"/traces/{attempt.id}")
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Authorization request" in page.text and "Token response" in page.text
    assert "<th scope=\"row\"><code>code_challenge_method</code></th><td><code>S256</code>" in page.text
    assert '<pre class="json" tabindex="0">' in page.text and "&#34;alg&#34;: &#34;RS256&#34;" in page.text
    assert "<code>exp</code> = " in page.text and " UTC" in page.text  # claim times, readable
    assert page.text.count('class="badge ok"') >= 10
    assert 'data-step="outcome"' in page.text and "Linked" in page.text
    listing = browser.open("/traces")
    assert f'href="/traces/{attempt.id}"' in listing.text and f'href="/traces/{attempt.id}.json"' in listing.text


def test_json_download_is_an_attachment_with_every_step(app, browser):
    sign_in(browser, "alex@contoso.com")
    link_account(browser, "learn", "alex.learner@outlook.com")
    [attempt] = attempts(app)
    page = browser.open(f"/traces/{attempt.id}.json")
    assert page.status == 200 and page.headers["Content-Type"].startswith("application/json")
    assert page.headers["Content-Disposition"] == f'attachment; filename="link-trace-{attempt.id}.json"'
    document = json.loads(page.text)
    assert document["attempt_id"] == attempt.id and document["outcome"] == "linked"
    assert document["work_user"] == "alex@contoso.com" and document["organization"] == "1234567"
    assert [s["step"] for s in document["steps"]] == names(attempt)


def test_only_the_user_and_their_global_admin_see_a_trace(app, idp):
    alex = Browser(app.test_client())
    sign_in(alex, "alex@contoso.com")
    link_account(alex, "learn", "alex.learner@outlook.com")
    [attempt] = attempts(app)
    expected = {
        "alex@contoso.com": 200,            # who ran it
        "gloria.global@contoso.com": 200,   # Global admin of the same organization
        "aaron.account@contoso.com": 403,   # Account admin: same organization, no access
        "pat@contoso.com": 403,
        "frank.global@fabrikam.com": 404,   # another organization's admin: it does not exist
    }
    for email, status in expected.items():
        viewer = alex if email == "alex@contoso.com" else Browser(app.test_client())
        if viewer is not alex:
            sign_in(viewer, email)
        for url in (f"/traces/{attempt.id}", f"/traces/{attempt.id}.json"):
            page = viewer.open(url)
            assert page.status == status, (email, url, page.status)
            if status != 200:
                assert "alex.learner@outlook.com" not in page.text and "987654321" not in page.text
        listing = viewer.open("/traces").text
        assert (f'data-attempt="{attempt.id}"' in listing) == (email in ("alex@contoso.com",
                                                                          "gloria.global@contoso.com"))
    assert Browser(app.test_client()).open("/traces/1").url.startswith("http://localhost/login")
    assert alex.open("/traces/9999").status == 404


def test_global_admin_narrows_the_list_to_one_work_user(app, idp):
    for email, account in (("alex@contoso.com", "alex.learner@outlook.com"), ("pat@contoso.com", None)):
        user = Browser(app.test_client())
        sign_in(user, email)
        if account:
            link_account(user, "learn", account)
        else:
            user.open("/link/learn/callback?code=forged&state=forged")
    alex_attempt, pat_attempt = attempts(app)
    gloria = Browser(app.test_client())
    sign_in(gloria, "gloria.global@contoso.com")
    everyone = gloria.open("/traces").text
    assert f'data-attempt="{alex_attempt.id}"' in everyone and f'data-attempt="{pat_attempt.id}"' in everyone
    only_pat = gloria.open("/traces?user=PAT@contoso.com").text
    assert f'data-attempt="{pat_attempt.id}"' in only_pat and f'data-attempt="{alex_attempt.id}"' not in only_pat
    assert 'href="/traces?user=alex@contoso.com"' in everyone
    # Another organization's user, or a plain user's filter: nothing of anyone else's.
    assert "data-attempt=" not in gloria.open("/traces?user=frank.global@fabrikam.com").text
    pat = Browser(app.test_client())
    sign_in(pat, "pat@contoso.com")
    mine = pat.open("/traces?user=alex@contoso.com").text
    assert f'data-attempt="{pat_attempt.id}"' in mine and f'data-attempt="{alex_attempt.id}"' not in mine


def test_profile_links_to_the_latest_trace(app, browser):
    sign_in(browser, "alex@contoso.com")
    assert "See what happened" not in browser.open("/profile").text
    page = start_link(browser, "learn")
    page = browser.submit(page, page.form_with(button="Cancel"), button="Cancel")
    [attempt] = attempts(app)
    assert "You cancelled the sign-in" in page.text
    assert f'<a href="/traces/{attempt.id}">See what happened</a>' in page.text
    target = browser.open(f"/traces/{attempt.id}")
    assert "access_denied" in target.text


# --------------------------------------------------------------------------- retention

def _add_attempt(user_email: str, age: timedelta) -> int:
    user = db.session.scalar(select(WorkUser).where(WorkUser.email == user_email))
    attempt = LinkAttempt(work_user_id=user.id, provider="learn", started_at=clock.now() - age,
                          outcome="failed", steps=[])
    db.session.add(attempt)
    db.session.commit()
    return attempt.id


def test_purge_keeps_traces_for_the_configured_days(app_ctx):
    app_ctx.config["LINK_TRACE_RETENTION_DAYS"] = 10
    old = _add_attempt("alex@contoso.com", timedelta(days=10, minutes=1))
    recent = _add_attempt("alex@contoso.com", timedelta(days=9, hours=23))
    assert recorder.purge_old_traces() == 1
    assert db.session.get(LinkAttempt, old) is None and db.session.get(LinkAttempt, recent) is not None
    # The simulated clock ages traces like everything else.
    simulated_clock.set_clock_offset(timedelta(days=2))
    assert recorder.purge_old_traces() == 1
    assert db.session.get(LinkAttempt, recent) is None


def test_purge_traces_command(app):
    with app.app_context():
        _add_attempt("alex@contoso.com", timedelta(days=31))
        _add_attempt("alex@contoso.com", timedelta(days=1))
    result = app.test_cli_runner().invoke(args=["purge-traces"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 link trace(s) older than 30 days." in result.output
    assert len(attempts(app)) == 1


def test_starting_a_flow_purges_expired_traces_once_in_a_while(app, browser):
    def expired_count() -> int:
        cutoff = clock.real_now() - timedelta(days=39)
        return sum(1 for a in attempts(app) if a.started_at < cutoff)

    with app.app_context():
        _add_attempt("pat@contoso.com", timedelta(days=40))
    sign_in(browser, "alex@contoso.com")
    start_link(browser, "learn")
    assert expired_count() == 0 and len(attempts(app)) == 1  # only the flow just started
    with app.app_context():
        _add_attempt("pat@contoso.com", timedelta(days=40))
    start_link(browser, "learn")  # within the purge interval: no second delete
    assert expired_count() == 1 and len(attempts(app)) == 3


def test_client_secret_is_not_shown_even_in_part(app, browser):
    """Any user who links can open their trace: not one character of the client secret is in it."""
    sign_in(browser, "alex@contoso.com")
    link_account(browser, "learn", "alex.learner@outlook.com")
    [attempt] = attempts(app)
    assert step(attempt, "token_request")["detail"]["parameters"]["client_secret"] == "…"
    secret = app.config["LEARN_CLIENT_SECRET"]
    shown = _everything_shown(browser, app)
    assert secret[:6] not in shown and secret[:5] + "…" not in shown
