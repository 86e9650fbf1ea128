"""Every provider fault scenario, through the real linking flow.

Each case arms one scenario at the live provider over the control API, runs the
webapp flow with the cross-host browser, and checks the message the user sees,
the failed check recorded in the flow's LinkAttempt, that no link was recorded,
and that a retry (the scenario was for the next flow only) links the account.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import func, select

from idp_mock.qa.catalog import CATALOG
from tests.fixtures.browser import Browser
from tests.fixtures.flows import provider_consent, provider_sign_in, sign_in, start_link
from webapp.extensions import db
from webapp.models import LinkAttempt, LinkedAccount

ISSUER = {"learn": "learn", "partner-university": "partner-university"}
CLIENT_ID = {"learn": "partner-center-learn", "partner-university": "partner-center-pu"}
PERSONAL = {"learn": "alex.learner@outlook.com", "partner-university": "pat.pu@outlook.com"}


@dataclass(frozen=True)
class Case:
    scenario: str
    provider: str
    check: str
    message: str
    outcome: str = "failed"
    transient: bool = False

    def __str__(self):
        return self.scenario


CASES = [
    Case("authorize_access_denied", "learn", "access_denied",
         "You cancelled the sign-in at Microsoft Learn; nothing was linked.", outcome="cancelled"),
    Case("authorize_login_required", "partner-university", "authorize_login_required",
         "Partner University asked you to sign in again (login_required). Nothing was linked; "
         "start again and sign in at Partner University."),
    Case("authorize_consent_required", "learn", "authorize_consent_required",
         "Microsoft Learn needs your consent to share your profile (consent_required). Nothing "
         "was linked; start again and choose Allow at Microsoft Learn."),
    Case("authorize_server_error", "learn", "authorize_server_error",
         "Microsoft Learn could not complete the sign-in (server_error). Nothing was linked; "
         "please try again in a moment.", transient=True),
    Case("authorize_temporarily_unavailable", "partner-university",
         "authorize_temporarily_unavailable",
         "Partner University could not complete the sign-in (temporarily_unavailable). Nothing "
         "was linked; please try again in a moment.", transient=True),
    Case("authorize_wrong_state", "learn", "state_mismatch",
         "This sign-in response does not belong to a linking flow started in this session"),
    Case("token_http_500", "partner-university", "token_http_error",
         "Partner University's token endpoint failed (HTTP 500). Nothing was linked; please try "
         "again in a moment.", transient=True),
    Case("token_invalid_grant", "learn", "token_invalid_grant",
         "Microsoft Learn's token endpoint refused the authorization code (invalid_grant"),
    Case("token_code_reused", "partner-university", "token_invalid_grant",
         "Partner University's token endpoint refused the authorization code (invalid_grant: it "
         "may have expired or been used already)"),
    Case("id_token_bad_signature", "learn", "id_token_signature",
         "The ID token from Microsoft Learn has an invalid signature. Nothing was linked"),
    Case("id_token_alg_none", "partner-university", "id_token_alg",
         "The ID token from Partner University uses a signing algorithm we do not accept (none)."),
    Case("id_token_unknown_kid", "learn", "id_token_kid",
         "The ID token from Microsoft Learn is signed with a key (kid qa-unknown-"),
    Case("id_token_wrong_iss", "learn", "id_token_iss",
         "The ID token from Microsoft Learn failed the iss check"),
    Case("id_token_wrong_aud", "partner-university", "id_token_aud",
         "The ID token from Partner University failed the aud check"),
    Case("id_token_expired", "learn", "id_token_exp",
         "The ID token from Microsoft Learn failed the exp check"),
    Case("id_token_iat_future", "learn", "id_token_iat",
         "The ID token from Microsoft Learn failed the iat check"),
    Case("id_token_nonce_missing", "partner-university", "id_token_nonce",
         "The ID token from Partner University failed the nonce check: expected "),
    Case("id_token_nonce_wrong", "learn", "id_token_nonce",
         "The ID token from Microsoft Learn failed the nonce check"),
    Case("id_token_mcid_missing", "learn", "rule:no_mcid",
         "Your Learn profile has no MCID yet.", outcome="refused"),
    Case("userinfo_sub_mismatch", "partner-university", "userinfo_sub_mismatch",
         "Partner University's userinfo endpoint returned profile data for a different account "
         "(sub) than the one in the ID token."),
]
# token_slow has its own test below (it needs a webapp with a short HTTP timeout).
SEPARATE = {"token_slow"}


def run_flow(browser: Browser, provider: str, email: str):
    """Start a link and go through the provider's pages, whatever they ask for."""
    page = start_link(browser, provider)
    if 'value="signin"' in page.text:
        page = provider_sign_in(browser, page, email)
    if 'value="consent"' in page.text:
        page = provider_consent(browser, page)
    return page


def flash_text(page) -> str:
    return html.unescape(page.text)


def last_attempt(app) -> tuple[str, dict, list]:
    with app.app_context():
        attempt = db.session.scalars(select(LinkAttempt).order_by(LinkAttempt.id.desc())).first()
        outcome_step = next(s for s in reversed(attempt.steps) if s["step"] == "outcome")
        return attempt.outcome, outcome_step["detail"], attempt.steps


def link_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LinkedAccount))


def test_every_catalog_scenario_has_a_case():
    assert {case.scenario for case in CASES} | SEPARATE == set(CATALOG)
    for case in CASES:
        assert CATALOG[case.scenario].expected_check == case.check


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fault_scenario_is_reported_and_links_nothing(case, app, browser, control, idp):
    provider = case.provider
    sign_in(browser, "alex@contoso.com")
    armed = control.arm(ISSUER[provider], case.scenario, client_id=CLIENT_ID[provider])

    page = run_flow(browser, provider, PERSONAL[provider])

    assert page.url == "http://localhost/profile"
    text = flash_text(page)
    assert case.message in text, text[:3000]
    if case.outcome == "failed":  # a refusal by the rules or a cancel is no failed check
        assert f"(Failed check: {case.check})" in text
    else:
        assert "Failed check" not in text
    assert link_count(app) == 0
    outcome, detail, steps = last_attempt(app)
    assert outcome == case.outcome
    assert detail["check"] == case.check
    assert detail["transient"] is case.transient
    if case.transient:
        assert "try again" in case.message
    # The provider recorded that it fired, once, and the next-flow scenario is used up.
    [row] = [s for s in control.scenarios(ISSUER[provider]) if s["id"] == armed["id"]]
    assert row["consumed"] is True and row["hits"] == 1

    # The user can retry: the next flow is a normal one and links the account.
    retry = run_flow(browser, provider, PERSONAL[provider])
    assert "is now linked" in flash_text(retry), flash_text(retry)[:3000]
    assert link_count(app) == 1
    with app.app_context():
        assert db.session.scalars(select(LinkAttempt).order_by(LinkAttempt.id.desc())
                                  ).first().outcome == "linked"


def token_count(idp, email: str) -> int:
    from idp_mock.models import Account, Token
    from idp_mock.models import db as idp_db

    with idp.app.app_context():
        return idp_db.session.scalar(
            select(func.count()).select_from(Token).join(Account, Token.user_id == Account.id)
            .where(Account.email == email))


def wait_for_tokens(idp, email: str, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while token_count(idp, email) < count:
        assert time.monotonic() < deadline, "the slow token request never completed"
        time.sleep(0.1)


def test_token_slow_times_out_and_retry_links(idp, control, webapp_with):
    # The webapp waits 1 s; the provider answers after 2 s.
    app = webapp_with(OIDC_HTTP_TIMEOUT=1)
    browser = Browser(app.test_client())
    sign_in(browser, "alex@contoso.com")
    tokens_before = token_count(idp, PERSONAL["learn"])
    control.arm("learn", "token_slow", client_id=CLIENT_ID["learn"], seconds=2)
    page = run_flow(browser, "learn", PERSONAL["learn"])
    text = flash_text(page)
    assert ("Microsoft Learn's token endpoint did not answer within 1 second. Nothing was "
            "linked; please try again in a moment.") in text
    assert "(Failed check: token_timeout)" in text
    assert link_count(app) == 0
    outcome, detail, steps = last_attempt(app)
    assert (outcome, detail["check"], detail["transient"]) == ("failed", "token_timeout", True)
    token_response = next(s for s in steps if s["step"] == "token_response")
    assert token_response["detail"]["error"] == "timeout"
    assert 900 <= token_response["detail"]["elapsed_ms"] < 2000

    retry = run_flow(browser, "learn", PERSONAL["learn"])
    assert "is now linked" in flash_text(retry)
    assert link_count(app) == 1
    # The stalled request still completes at the provider; let it finish here so that
    # its ID token cannot meet a scenario armed by the next test.
    wait_for_tokens(idp, PERSONAL["learn"], tokens_before + 2)


def test_until_cleared_scenario_hits_every_flow_of_its_account_only(app, browser, control, idp):
    sign_in(browser, "alex@contoso.com")
    control.arm("learn", "id_token_wrong_aud", scope="until-cleared",
                account="Alex.Learner@outlook.com")
    for _ in range(2):
        page = run_flow(browser, "learn", PERSONAL["learn"])
        assert "(Failed check: id_token_aud)" in flash_text(page)
    assert link_count(app) == 0
    [row] = control.scenarios("learn")
    assert row["consumed"] is False and row["hits"] == 2 and row["account"] == "alex.learner@outlook.com"

    # Another account of the same provider is not affected.
    other = Browser(app.test_client())
    sign_in(other, "pat@contoso.com")
    page = run_flow(other, "learn", "mia.mover@outlook.com")
    assert "is now linked" in flash_text(page)

    assert control.clear("learn") == 1
    page = run_flow(browser, "learn", PERSONAL["learn"])
    assert "is now linked" in flash_text(page)


def test_client_filter_leaves_other_clients_alone(app, browser, control, idp):
    sign_in(browser, "alex@contoso.com")
    control.arm("learn", "authorize_server_error", client_id="some-other-client")
    page = run_flow(browser, "learn", PERSONAL["learn"])
    assert "is now linked" in flash_text(page)
    [row] = control.scenarios("learn")
    assert row["consumed"] is False and row["hits"] == 0


def test_key_rotation_new_kid_is_fetched_and_old_key_kept_for_grace(app, control, idp):
    jwks_url = f"{idp.url}/learn/jwks.json"
    first = Browser(app.test_client())
    sign_in(first, "alex@contoso.com")
    assert "is now linked" in flash_text(run_flow(first, "learn", PERSONAL["learn"]))
    old_kids = {k["kid"] for k in requests.get(jwks_url, timeout=5).json()["keys"]}

    rotated = control.rotate_key("learn", grace_seconds=3600)
    published = {k["kid"] for k in requests.get(jwks_url, timeout=5).json()["keys"]}
    assert rotated["kid"] not in old_kids
    assert published == old_kids | {rotated["kid"]}  # old keys kept for the grace period
    assert all(k["leaves_jwks_at"] for k in rotated["published"] if k["kid"] in old_kids)

    # The webapp cached the old JWKS; the new kid makes it fetch the JWKS again, and it links.
    second = Browser(app.test_client())
    sign_in(second, "pat@contoso.com")
    assert "is now linked" in flash_text(run_flow(second, "learn", "mia.mover@outlook.com"))
    with app.app_context():
        attempt = db.session.scalars(select(LinkAttempt).order_by(LinkAttempt.id.desc())).first()
        refetch = [s for s in attempt.steps if s["step"] == "jwks_refetch"]
        signature = [s for s in attempt.steps if s["step"] == "check_signature"]
    assert refetch and refetch[0]["ok"] is True and refetch[0]["detail"]["kid"] == rotated["kid"]
    assert signature[-1]["ok"] is True and signature[-1]["detail"]["kid"] == rotated["kid"]

    # Grace over (0 s): only the newest key is published.
    newest = control.rotate_key("learn", grace_seconds=0)
    published = [k["kid"] for k in requests.get(jwks_url, timeout=5).json()["keys"]]
    assert published == [newest["kid"]]


def test_scenario_armed_from_the_sign_in_page_panel(app, browser, control, idp):
    sign_in(browser, "alex@contoso.com")
    page = start_link(browser, "learn")
    assert "Test scenario" in page.text
    page = browser.submit(page, page.form_with(action_contains="/learn/test-scenario/"),
                          {"qa-scenario": "id_token_wrong_iss", "qa-scope": "next-flow"})
    # Back on the same sign-in page of the same flow, with the scenario listed as armed.
    assert page.url.startswith(f"{idp.url}/learn/authorize?")
    assert "Test scenario armed: id_token_wrong_iss." in flash_text(page)
    [armed] = control.scenarios("learn")
    assert armed["client_id"] == CLIENT_ID["learn"] and armed["scope"] == "next-flow"

    page = provider_consent(browser, provider_sign_in(browser, page, PERSONAL["learn"]))
    assert "(Failed check: id_token_iss)" in flash_text(page)
    assert link_count(app) == 0
    assert last_attempt(app)[1]["check"] == "id_token_iss"


def test_unreachable_discovery_names_the_document(webapp_with):
    app = webapp_with(OIDC_HTTP_TIMEOUT=2,
                      LEARN_OIDC_DISCOVERY_URL="http://127.0.0.1:1/learn/.well-known/openid-configuration")
    browser = Browser(app.test_client())
    sign_in(browser, "alex@contoso.com")
    page = start_link(browser, "learn")
    assert page.url == "http://localhost/profile"
    text = flash_text(page)
    assert ("Microsoft Learn's discovery document could not be loaded. Nothing was linked; "
            "please try again in a moment. (Failed check: discovery_unreachable)") in text
    outcome, detail, _steps = last_attempt(app)
    assert (outcome, detail["check"]) == ("failed", "discovery_unreachable")
    assert link_count(app) == 0
