"""Partner Center against a provider of another make: what configuration and discovery decide.

The client authentication at the token endpoint, the expected issuer, the RFC 9207 ``iss``
of the authorization response, and the ``account_type`` claim. Each case runs the real flow
against the scripted provider (tests/fixtures/oidc_stub.py) over HTTP.
"""
from __future__ import annotations

import base64
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.fixtures.browser import Browser
from tests.fixtures.flows import link_account, sign_in
from tests.fixtures.oidc_stub import CLIENT_ID
from tests.fixtures.rp_checks import failed_check, last_attempt, links, start_and_return
from webapp.extensions import db
from webapp.models import LinkedAccount
from webapp.reports import refresh

LINKED = "is now linked"


def signed_in(app) -> Browser:
    browser = Browser(app.test_client())
    sign_in(browser, "alex@contoso.com")
    return browser


def assert_not_linked(app, page, check: str, message: str, outcome: str = "failed"):
    assert page.url == "http://localhost/profile"
    assert message in page.text, page.text[:3000]
    assert outcome == "refused" or "Nothing was linked" in page.text
    assert links(app) == 0
    assert last_attempt(app).outcome == outcome
    assert failed_check(app) == check


# ------------------------------------------------------------- client authentication (token endpoint)

def test_authentication_method_is_the_first_advertised_one_partner_center_supports(stub_app, stub):
    stub.script.discovery = {"token_endpoint_auth_methods_supported": [
        "private_key_jwt", "client_secret_post", "client_secret_basic"]}
    page = start_and_return(signed_in(stub_app))
    assert LINKED in page.text, page.text[:2000]
    [request] = stub.token_requests
    assert request["authorization"] is None
    assert (request["form"]["client_id"], request["form"]["client_secret"]) == (
        CLIENT_ID, "test-learn-secret")
    steps = {s["step"]: s for s in last_attempt(stub_app).steps}
    assert steps["token_request"]["detail"]["client_authentication"] == "client_secret_post"


def test_authentication_method_from_configuration_wins_over_discovery(stub_app_with, stub):
    app = stub_app_with(LEARN_TOKEN_ENDPOINT_AUTH_METHOD="client_secret_post")
    stub.script.discovery = {"token_endpoint_auth_methods_supported": [
        "client_secret_basic", "client_secret_post"]}
    page = start_and_return(signed_in(app))
    assert LINKED in page.text, page.text[:2000]
    [request] = stub.token_requests
    assert request["authorization"] is None and request["form"]["client_secret"] == "test-learn-secret"


def test_basic_authentication_when_discovery_advertises_nothing(stub_app, stub):
    # OpenID Connect Discovery: token_endpoint_auth_methods_supported defaults to client_secret_basic.
    page = start_and_return(signed_in(stub_app))
    assert LINKED in page.text
    [request] = stub.token_requests
    expected = base64.b64encode(f"{CLIENT_ID}:test-learn-secret".encode()).decode()
    assert request["authorization"] == f"Basic {expected}"
    assert "client_secret" not in request["form"]


def test_the_transcript_refresh_authenticates_the_same_way(stub_app, stub):
    """The refresh's client_credentials token request too (the stub has no transcript API: the
    refresh then fails, after the token request this test looks at)."""
    stub.script.discovery = {"token_endpoint_auth_methods_supported": ["client_secret_post"]}
    with stub_app.test_request_context(), pytest.raises(refresh.RefreshError):
        refresh.fetch_transcripts([SimpleNamespace(id=1, provider="learn", subject="s")])
    [request] = stub.token_requests
    assert request["form"]["grant_type"] == "client_credentials"
    assert request["authorization"] is None and request["form"]["client_secret"] == "test-learn-secret"


def test_discovery_cannot_switch_off_pkce_or_choose_the_authentication(stub_app, stub):
    # Authlib hands the whole discovery document to its session after our own settings.
    stub.script.discovery = {"code_challenge_method": None, "token_endpoint_auth_method": "none"}
    page = start_and_return(signed_in(stub_app))
    assert LINKED in page.text
    assert stub.last_authorize["code_challenge_method"] == "S256"
    assert stub.token_requests[0]["authorization"].startswith("Basic ")


def test_a_provider_with_no_method_we_support_is_refused_before_the_browser_leaves(stub_app, stub):
    stub.script.discovery = {"token_endpoint_auth_methods_supported": ["private_key_jwt"]}
    page = start_and_return(signed_in(stub_app))
    assert_not_linked(stub_app, page, "token_auth_method_unsupported",
                      "accepts none of the client authentication methods Partner Center uses")
    assert stub.count("/authorize") == 0


def test_an_unknown_authentication_method_setting_stops_the_app(stub_app_with):
    with pytest.raises(ValueError, match="LEARN_TOKEN_ENDPOINT_AUTH_METHOD"):
        stub_app_with(LEARN_TOKEN_ENDPOINT_AUTH_METHOD="client_secret_jwt")


# ------------------------------------------------------------- expected issuer

def test_a_trailing_slash_issuer_links_when_configured(stub_app_with, stub):
    app = stub_app_with(LEARN_ISSUER=stub.url + "/")
    stub.script.discovery = {"issuer": stub.url + "/"}
    stub.script.claims = {"iss": stub.url + "/"}
    page = start_and_return(signed_in(app))
    assert LINKED in page.text, page.text[:2000]
    with app.app_context():
        assert db.session.scalars(select(LinkedAccount.issuer)).one() == stub.url + "/"


def test_a_trailing_slash_issuer_is_not_the_derived_one(stub_app, stub):
    # Derived from the discovery URL (no trailing slash) and compared exactly.
    stub.script.discovery = {"issuer": stub.url + "/"}
    stub.script.claims = {"iss": stub.url + "/"}
    page = start_and_return(signed_in(stub_app))
    assert_not_linked(stub_app, page, "discovery_issuer_mismatch", "names a different issuer")


def test_issuer_and_client_settings_are_read_from_the_environment():
    env = {**os.environ, "LEARN_ISSUER": "https://login.example.com/", "PARTNER_UNIVERSITY_ISSUER":
           "https://pu.example.com", "LEARN_TOKEN_ENDPOINT_AUTH_METHOD": "client_secret_post",
           "LEARN_ACCOUNT_TYPE_WHEN_ABSENT": "personal"}
    code = ("from webapp.config import Config as C; print(C.LEARN_ISSUER, C.PARTNER_UNIVERSITY_ISSUER, "
            "C.LEARN_TOKEN_ENDPOINT_AUTH_METHOD, C.PARTNER_UNIVERSITY_TOKEN_ENDPOINT_AUTH_METHOD, "
            "C.LEARN_ACCOUNT_TYPE_WHEN_ABSENT)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == ["https://login.example.com/", "https://pu.example.com", "client_secret_post",
                   "None", "personal"]


# ------------------------------------------------------------- RFC 9207 iss in the authorization response

ISS_ADVERTISED = {"authorization_response_iss_parameter_supported": True}


def test_advertised_iss_equal_to_the_issuer_links(stub_app, stub):
    stub.script.discovery = ISS_ADVERTISED
    stub.script.redirect_params = {"iss": stub.issuer}
    page = start_and_return(signed_in(stub_app))
    assert LINKED in page.text, page.text[:2000]
    steps = {s["step"]: s for s in last_attempt(stub_app).steps}
    assert steps["check_response_iss"]["ok"] is True


def test_advertised_iss_missing_is_refused_before_the_code_is_used(stub_app, stub):
    stub.script.discovery = ISS_ADVERTISED
    page = start_and_return(signed_in(stub_app))
    assert_not_linked(stub_app, page, "response_iss_missing", "does not name its issuer")
    assert stub.token_requests == []


@pytest.mark.parametrize("advertised", [True, False], ids=["advertised", "not-advertised"])
def test_iss_of_another_provider_is_refused(stub_app, stub, idp, advertised):
    # The mix-up attack: the answer comes from (or names) another issuer.
    stub.script.discovery = ISS_ADVERTISED if advertised else {}
    stub.script.redirect_params = {"iss": f"{idp.url}/learn"}
    page = start_and_return(signed_in(stub_app))
    assert_not_linked(stub_app, page, "response_iss_mismatch", "names a different issuer than")
    assert stub.token_requests == []


def test_an_error_answer_is_checked_too(stub_app, stub):
    stub.script.discovery = ISS_ADVERTISED
    stub.script.redirect_params = {"iss": "https://evil.example", "error": "access_denied"}
    page = start_and_return(signed_in(stub_app))
    assert_not_linked(stub_app, page, "response_iss_mismatch", "names a different issuer than")


# ------------------------------------------------------------- account_type

def test_no_account_type_anywhere_is_refused_by_default(stub_app, stub):
    stub.script.remove_claims = ("account_type",)
    stub.script.userinfo = {"account_type": None}
    page = start_and_return(signed_in(stub_app))
    assert_not_linked(stub_app, page, "rule:account_type_missing", "no account_type claim",
                      outcome="refused")


def test_no_account_type_is_personal_when_configured(stub_app_with, stub):
    app = stub_app_with(LEARN_ACCOUNT_TYPE_WHEN_ABSENT="personal")
    stub.script.remove_claims = ("account_type",)
    stub.script.userinfo = {"account_type": None}
    page = start_and_return(signed_in(app))
    assert LINKED in page.text, page.text[:2000]


def test_account_type_from_userinfo_is_read(stub_app, stub):
    stub.script.remove_claims = ("account_type",)
    page = start_and_return(signed_in(stub_app))
    assert LINKED in page.text, page.text[:2000]


def test_a_work_account_type_is_refused_whatever_the_setting(stub_app_with, stub):
    app = stub_app_with(LEARN_ACCOUNT_TYPE_WHEN_ABSENT="personal")
    stub.script.claims = {"account_type": "work"}
    page = start_and_return(signed_in(app))
    assert_not_linked(app, page, "rule:work_account", "work (Microsoft Entra ID) account",
                      outcome="refused")


def test_an_unknown_account_type_setting_stops_the_app(stub_app_with):
    with pytest.raises(ValueError, match="LEARN_ACCOUNT_TYPE_WHEN_ABSENT"):
        stub_app_with(LEARN_ACCOUNT_TYPE_WHEN_ABSENT="maybe")



# ------------------------------------------------------------- the same with the real mock providers

@pytest.mark.parametrize("configured, used", [(None, "client_secret_basic"),
                                              ("client_secret_post", "client_secret_post")])
def test_real_provider_links_with_the_chosen_authentication(stub_app_with, idp, configured, used):
    # Their discovery advertises client_secret_basic first, then client_secret_post.
    app = stub_app_with(LEARN_OIDC_DISCOVERY_URL=f"{idp.url}/learn/.well-known/openid-configuration",
                        LEARN_TOKEN_ENDPOINT_AUTH_METHOD=configured)
    page = link_account(signed_in(app), "learn", "alex.learner@outlook.com")
    assert LINKED in page.text, page.text[:2000]
    steps = {s["step"]: s for s in last_attempt(app).steps}
    assert steps["token_request"]["detail"]["client_authentication"] == used
    assert steps["token_auth_method"]["detail"]["method"] == used
