"""Example for other projects' suites: the mock providers through the documented plugin only.

Copy it into your suite. Everything comes from the pytest plugin (``idp_mock.pytest_plugin``:
providers on a free 127.0.0.1 port, a QA control-API client) and ``idp_mock.testing.authorize``
(the person's part: sign in, allow). The relying party is a plain Authlib client and joserfc;
nothing of the webapp, nothing read from a database. docs/testing.md explains each piece.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from idp_mock.testing import authorize

# Their providers always run on a throwaway SQLite file of their own, whatever the suite's
# database: a second pass on PostgreSQL would run the same thing again.
pytestmark = pytest.mark.database_neutral

pytest_plugins = ["idp_mock.pytest_plugin"]

ISSUER = "learn"
CLIENT_ID, CLIENT_SECRET = "qa-example-app", "qa-example-secret"
REDIRECT_URI = "http://127.0.0.1:8765/callback"  # never served: the test reads the redirect
LEARNER = "plugin.example@outlook.com"


@pytest.fixture
def relying_party(providers_control):
    """Our application, registered at Microsoft Learn over the control API."""
    registered = providers_control.register_client(
        ISSUER, CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI], client_name="QA example app",
        scope="openid profile email")
    return requests.get(registered["discovery_url"], timeout=10).json()


@pytest.fixture
def learner(providers_control):
    account = providers_control.create_account(ISSUER, LEARNER, name="Plugin Example",
                                               mcid="generate")
    yield account
    providers_control.delete_account(ISSUER, LEARNER)


def code_flow(metadata: dict, email: str) -> tuple[dict, dict, dict]:
    """The authorization code flow with PKCE and a nonce; returns (token, claims, JOSE header)."""
    session = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope="openid profile email",
                            redirect_uri=REDIRECT_URI, code_challenge_method="S256")
    verifier, nonce = generate_token(48), generate_token(16)
    url, state = session.create_authorization_url(metadata["authorization_endpoint"],
                                                  code_verifier=verifier, nonce=nonce)
    back = authorize(url, email)
    assert back.startswith(REDIRECT_URI + "?"), back
    assert parse_qs(urlsplit(back).query)["state"] == [state]
    token = session.fetch_token(metadata["token_endpoint"], authorization_response=back,
                                state=state, code_verifier=verifier)
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": metadata["issuer"]},
                          aud={"essential": True, "value": CLIENT_ID},
                          nonce={"essential": True, "value": nonce}).validate(decoded.claims)
    return token, dict(decoded.claims), dict(decoded.header)


def test_a_new_account_signs_in_to_our_application(mock_providers, relying_party, learner):
    assert relying_party["issuer"] == mock_providers.issuer_url(ISSUER)
    token, claims, _header = code_flow(relying_party, LEARNER)
    assert claims["sub"] == learner["subject"]
    assert (claims["mcid"], claims["account_type"]) == (learner["mcid"], "personal")
    userinfo = requests.get(relying_party["userinfo_endpoint"], timeout=10, headers={
        "Authorization": f"Bearer {token['access_token']}"}).json()
    assert userinfo["sub"] == claims["sub"] and userinfo["email"] == LEARNER


def test_an_armed_scenario_breaks_the_next_flow_only(providers_control, relying_party, learner):
    providers_control.arm(ISSUER, "id_token_wrong_aud", client_id=CLIENT_ID)
    with pytest.raises(InvalidClaimError, match="aud"):
        code_flow(relying_party, LEARNER)
    [scenario] = providers_control.scenarios(ISSUER)
    assert scenario["consumed"] is True
    code_flow(relying_party, LEARNER)  # the next flow is a normal one again


def test_a_rotated_key_signs_the_next_id_token(providers_control, relying_party, learner):
    _token, _claims, before = code_flow(relying_party, LEARNER)
    rotated = providers_control.rotate_key(ISSUER, grace_seconds=600)
    _token, _claims, after = code_flow(relying_party, LEARNER)
    assert after["kid"] == rotated["kid"] != before["kid"]
    assert {k["kid"] for k in providers_control.keys(ISSUER)} >= {before["kid"], after["kid"]}
