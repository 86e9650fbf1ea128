"""What a relying party a QA team brings meets at the providers: nonce as a client setting,
request objects refused, unknown scopes ignored, public clients, RFC 6749 2.3.1 Basic
credentials, RFC 8414 / RFC 9207 / RFC 6750; over real HTTP against the session's providers."""
from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
import requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9207 import AuthorizationServerMetadata as IssParameterMetadata

from tests.fixtures.idp_helpers import Browser
from tests.fixtures.qa_clients import QaClient
from tests.fixtures.qa_clients import allow
from tests.fixtures.qa_clients import redirect_params
from tests.fixtures.qa_clients import sign_in
from tests.fixtures.servers import WEBAPP_ORIGIN

LEARNER = "alex.learner@outlook.com"


@pytest.fixture
def client(idp, control):
    qa = QaClient(control, idp.url, "learn")
    yield qa
    qa.delete()


@pytest.fixture
def public_client(idp, control):
    qa = QaClient(control, idp.url, "partner-university", public=True)
    yield qa
    qa.delete()


def code_for(client: QaClient, email: str = LEARNER, **params):
    browser = Browser()
    auth = client.authorization_request(**params)
    answer = sign_in(browser, auth.url, email)
    return redirect_params(allow(browser, answer, auth.url), client), auth


# ------------------------------------------------------------------------------------ nonce


def test_nonce_is_optional_for_a_qa_client_unless_it_asks(idp, control, client):
    params, auth = code_for(client, nonce=False)
    token = client.exchange(params["code"], auth.verifier)
    assert token.status_code == 200 and "id_token" in token.json()

    strict = QaClient(control, idp.url, "learn", require_nonce=True)
    try:
        assert strict.registered["require_nonce"] is True
        auth = strict.authorization_request(nonce=False)
        params = redirect_params(Browser().get(auth.url), strict)
        assert params["error"] == "invalid_request" and "nonce" in params["error_description"]
    finally:
        strict.delete()


def test_partner_centers_own_client_still_requires_a_nonce(idp):
    url = f"{idp.url}/learn/authorize?" + urlencode({
        "response_type": "code", "client_id": "partner-center-learn", "scope": "openid",
        "redirect_uri": WEBAPP_ORIGIN + "/link/learn/callback", "state": "s1",
        "code_challenge": "a" * 43, "code_challenge_method": "S256"})
    response = Browser().get(url)
    assert response.status_code == 302, response.text[:300]
    assert "error=invalid_request" in response.headers["Location"]
    assert "nonce" in response.headers["Location"]


# -------------------------------------------------------------------------- request objects


@pytest.mark.parametrize("param, error", [("request", "request_not_supported"),
                                          ("request_uri", "request_uri_not_supported")])
def test_request_objects_are_refused_at_the_client(client, param, error):
    value = "eyJhbGciOiJub25lIn0.e30." if param == "request" else "https://rp.example/r/1"
    auth = client.authorization_request(**{param: value})
    params = redirect_params(Browser().get(auth.url), client)
    assert params["error"] == error and params["state"] == auth.state
    assert params["iss"] == client.issuer_url


# ----------------------------------------------------------------------------------- scopes


def test_unknown_scopes_are_ignored_and_only_offline_access_brings_a_refresh_token(client):
    params, auth = code_for(client, scope="openid email foo bar:baz")
    token = client.exchange(params["code"], auth.verifier).json()
    assert token["scope"] == "openid email" and "refresh_token" not in token

    params, auth = code_for(client, scope="openid offline_access")
    token = client.exchange(params["code"], auth.verifier).json()
    assert "offline_access" in token["scope"] and token["refresh_token"]


# --------------------------------------------------------------------------- public clients


def test_public_client_gets_tokens_with_pkce_and_no_secret(public_client):
    assert public_client.registered["public"] is True
    assert "client_secret" not in public_client.registered
    assert "client_credentials" not in public_client.registered["grant_types"]
    params, auth = code_for(public_client, "pat.pu@outlook.com",
                            scope="openid profile offline_access")
    # The wrong verifier: refused (PKCE is what binds a public client's code).
    wrong = public_client.exchange(params["code"], "x" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    token = public_client.exchange(params["code"], auth.verifier)
    assert token.status_code == 200, token.text
    assert token.json()["id_token"] and token.json()["refresh_token"]
    refreshed = public_client.refresh(token.json()["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text


def test_public_client_never_gets_client_credentials(public_client):
    response = public_client.token_request({"grant_type": "client_credentials",
                                            "scope": "transcript.read"})
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")


def test_confidential_client_cannot_pass_as_public(client):
    params, auth = code_for(client)
    response = client.exchange(params["code"], auth.verifier, auth="none")
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("body, field", [
    ({"public": True, "client_secret": "0123456789abcdefXYZ"}, "client_secret"),
    ({"public": "yes"}, "public"),
    ({"redirect_uris": []}, "redirect_uris"),
    ({"redirect_uris": ["https://rp.example/cb#frag"]}, "redirect_uris[0]"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "redirect_uris[0]"),
    ({"client_id": "partner-center-learn"}, "client_id"),
    ({"client_id": "bad id"}, "client_id"),
    ({"require_nonce": 1}, "require_nonce"),
])
def test_client_registration_refuses_bad_input(idp, control, body, field):
    data = {"client_id": "qa-bad-input", "redirect_uris": ["https://rp.example/cb"], **body}
    response = control.http.post(f"{idp.url}/learn/qa/clients", json=data, timeout=10)
    assert response.status_code == 400 and response.json()["field"] == field
    assert control.http.get(f"{idp.url}/learn/qa/clients/{data['client_id']}",
                            timeout=10).status_code == 404 or field == "client_id"


# ------------------------------------------------------------------ client_secret_basic


def test_client_secret_basic_is_form_urlencoded_as_rfc6749_says(idp, control):
    secret = "a secret+with:special/chars%and space"
    client = QaClient(control, idp.url, "learn", client_secret=secret)
    try:
        params, auth = code_for(client)
        # Sent as the RFC says: each part form-urlencoded, so the spaces travel as "+".
        token = client.exchange(params["code"], auth.verifier, auth="basic")
        assert token.status_code == 200, token.text
        # The same secret sent without the encoding is another secret ("+" means a space).
        raw = base64.b64encode(f"{client.client_id}:{secret.replace(' ', '+')}".encode())
        refused = requests.post(client.metadata["token_endpoint"], timeout=10,
                                headers={"Authorization": "Basic " + raw.decode()},
                                data={"grant_type": "client_credentials",
                                      "scope": "transcript.read"})
        assert refused.status_code == 401
    finally:
        client.delete()


# --------------------------------------------------------------- RFC 8414, 9207 and 6750


@pytest.mark.parametrize("issuer", ["learn", "partner-university"])
def test_rfc8414_metadata_is_served_and_advertises_what_is_supported(idp, issuer):
    response = requests.get(f"{idp.url}/.well-known/oauth-authorization-server/{issuer}",
                            timeout=5)
    assert response.status_code == 200
    metadata = AuthorizationServerMetadata(response.json())
    metadata.validate(metadata_classes=[IssParameterMetadata])
    assert metadata["issuer"] == f"{idp.url}/{issuer}"
    oidc = requests.get(f"{idp.url}/{issuer}/.well-known/openid-configuration", timeout=5).json()
    assert dict(metadata) == oidc
    assert oidc["authorization_response_iss_parameter_supported"] is True
    assert oidc["request_parameter_supported"] is False
    assert oidc["request_uri_parameter_supported"] is False
    assert "refresh_token" in oidc["grant_types_supported"]
    assert "none" in oidc["token_endpoint_auth_methods_supported"]
    assert set(oidc["prompt_values_supported"]) >= {"none", "login", "consent"}
    assert requests.get(f"{idp.url}/.well-known/oauth-authorization-server/nope",
                        timeout=5).status_code == 404


def test_iss_is_in_success_and_error_authorization_responses(client):
    params, _auth = code_for(client)
    assert params["iss"] == client.issuer_url and "code" in params
    browser = Browser()
    auth = client.authorization_request(prompt="consent")  # consent is remembered by now
    consent = sign_in(browser, auth.url, LEARNER)
    consent.url = auth.url
    cancelled = redirect_params(browser.submit(consent, {"step": "consent", "cancel": "Cancel"}),
                                client)
    assert cancelled["error"] == "access_denied" and cancelled["iss"] == client.issuer_url


def test_userinfo_without_a_token_is_a_challenge_without_error_code(client):
    for response in (client.userinfo(None),
                     requests.get(client.metadata["userinfo_endpoint"], timeout=5,
                                  headers={"Authorization": "Basic Zm9vOmJhcg=="})):
        assert response.status_code == 401
        challenge = response.headers["WWW-Authenticate"]
        assert challenge == f'Bearer realm="{client.issuer_url}"'
    wrong = client.userinfo("not-a-token")
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers[
        "WWW-Authenticate"]


# ------------------------------------------------------------------------------ ui_locales


@pytest.mark.parametrize("ui_locales, expected", [
    ("de zh-TW fr", "登入"), ("xx fr-CA en", "Se connecter"), ("de en fr", 'value="Sign in"'),
])
def test_ui_locales_picks_the_first_supported_language(client, ui_locales, expected):
    page = Browser().get(client.authorization_request(ui_locales=ui_locales).url)
    assert page.status_code == 200 and expected in page.text
