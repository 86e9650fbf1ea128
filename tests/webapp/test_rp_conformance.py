"""Relying-party checks against hand-made tokens (the OpenID RP conformance cases for the code flow).

Each case runs the real flow: the webapp redirects the browser to the stub provider, which
sends it straight back with a code; the webapp exchanges the code over HTTP and receives the
ID token the test crafted. A rejected case must show a clear message and write no link.
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from tests.fixtures.browser import Browser
from tests.fixtures.flows import sign_in
from tests.fixtures.oidc_stub import CLIENT_ID, MCID, SUBJECT, hs256_token, new_key, unsigned_token
from tests.fixtures.rp_checks import failed_check, last_attempt, links, start_and_return
from webapp.extensions import db
from webapp.linking import oidc
from webapp.models import LEARN, LinkedAccount

REJECTED = "Nothing was linked"


def assert_refused(app, page, check: str, message: str):
    assert page.url == "http://localhost/profile"
    assert message in page.text, page.text[:3000]
    assert REJECTED in page.text
    assert links(app) == 0
    attempt = last_attempt(app)
    assert attempt.outcome == "failed"
    assert failed_check(app) == check


def test_well_formed_token_is_accepted(stub_app, stub_browser, stub):
    """The baseline every rejection below differs from by one thing."""
    page = start_and_return(stub_browser)
    assert "is now linked" in page.text, page.text[:2000]
    with stub_app.app_context():
        link = db.session.scalars(select(LinkedAccount)).one()
        assert (link.subject, link.mcid, link.issuer) == (SUBJECT, MCID, stub.issuer)
    # Client authentication and PKCE verifier went to the token endpoint.
    request = stub.token_requests[-1]
    assert request["authorization"].startswith("Basic ")
    assert len(request["form"]["code_verifier"]) >= 43
    assert stub.last_authorize["code_challenge_method"] == "S256"


def _now() -> int:
    return int(time.time())


OTHER_KEY = new_key("stub-key-1")  # same kid as the published key, different key material


# (case id, how to script the stub, the check that must fail, words of the message)
CASES = [
    ("bad-rs256-signature", {"signing_key": OTHER_KEY}, "id_token_signature", "invalid signature"),
    ("alg-none", {"raw_id_token": lambda h, c: unsigned_token({**h, "alg": "none"}, c)},
     "id_token_alg", "algorithm we do not accept"),
    ("wrong-iss", {"claims": {"iss": "https://evil.example"}}, "id_token_iss", "failed the iss check"),
    ("iss-list-with-ours", {"claims": {"iss": ["https://evil.example", "__ISSUER__"]}},
     "id_token_iss", "failed the iss check"),
    ("aud-other-client", {"claims": {"aud": "someone-else"}}, "id_token_aud", "failed the aud check"),
    ("aud-list-without-us", {"claims": {"aud": ["a", "b"]}}, "id_token_aud", "failed the aud check"),
    ("aud-ours-azp-other", {"claims": {"aud": [CLIENT_ID, "other"], "azp": "other"}},
     "id_token_azp", "failed the azp check"),
    ("aud-several-no-azp", {"claims": {"aud": [CLIENT_ID, "other"]}},
     "id_token_azp", "failed the azp check"),
    ("iat-in-future", {"claims": {"iat": _now() + 3600}}, "id_token_iat", "failed the iat check"),
    ("expired", {"claims": {"exp": _now() - 3600, "iat": _now() - 7200}},
     "id_token_exp", "failed the exp check"),
    ("nbf-in-future", {"claims": {"nbf": _now() + 3600}}, "id_token_nbf", "failed the nbf check"),
    ("missing-sub", {"remove_claims": ("sub",)}, "id_token_sub", "failed the sub check"),
    ("sub-not-a-string", {"claims": {"sub": {"id": SUBJECT}}}, "id_token_sub", "failed the sub check"),
    ("wrong-nonce", {"claims": {"nonce": "not-the-nonce"}}, "id_token_nonce", "failed the nonce check"),
    ("missing-nonce", {"remove_claims": ("nonce",)}, "id_token_nonce", "failed the nonce check"),
    # joserfc accepts a list that contains the expected value; a nonce is one string.
    ("nonce-list-with-ours", {"claims": {"nonce": lambda c: [c["nonce"], "attacker-nonce"]}},
     "id_token_nonce", "failed the nonce check"),
    ("azp-list-with-ours", {"claims": {"aud": [CLIENT_ID, "other"], "azp": [CLIENT_ID]}},
     "id_token_azp", "failed the azp check"),
    ("missing-exp", {"remove_claims": ("exp",)}, "id_token_exp", "failed the exp check"),
    ("wrong-at-hash", {"claims": {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}},
     "id_token_at_hash", "failed the at_hash check"),
    # Shapes Authlib does not expect: refused by name, never an internal error.
    ("at-hash-object", {"claims": {"at_hash": {"left": "AAAA"}}}, "id_token_at_hash", "failed the at_hash check"),
    ("at-hash-list", {"claims": {"at_hash": ["AAAAAAAAAAAAAAAAAAAAAA"]}}, "id_token_at_hash",
     "failed the at_hash check"),
    ("access-token-object", {"token": {"access_token": {"value": "stub"}}}, "token_access_token",
     "access_token is not a text value"),
    ("access-token-list", {"token": {"access_token": ["stub-access-token"]}}, "token_access_token",
     "access_token is not a text value"),
    ("token-type-number", {"token": {"token_type": 7}}, "token_token_type",
     "token_type is not a text value"),
    ("kid-absent-several-keys", {"drop_kid": True, "keys": "__TWO_KEYS__"},
     "id_token_kid_missing", "does not name its signing key"),
    ("kid-absent-one-key-wrong-signer", {"drop_kid": True, "signing_key": new_key(None)},
     "id_token_signature", "invalid signature"),
    ("unknown-kid", {"signing_key": new_key("never-published")}, "id_token_kid",
     "does not publish"),
    ("hs256-with-public-key", {"raw_id_token": "__HS256__"}, "id_token_alg",
     "algorithm we do not accept"),
    ("hs256-advertised-by-provider", {"raw_id_token": "__HS256__",
                                      "discovery": {"id_token_signing_alg_values_supported":
                                                    ["RS256", "HS256", "none"]}},
     "id_token_alg", "algorithm we do not accept"),
    ("rs384-not-advertised", {"header": {"alg": "RS384"}, "signing_key": new_key("stub-key-1", None)}, "id_token_alg", "algorithm we do not accept"),
    ("userinfo-sub-differs", {"userinfo": {"sub": "someone-else"}}, "userinfo_sub_mismatch",
     "profile data for a different account"),
    ("discovery-issuer-differs", {"discovery": {"issuer": "https://evil.example"}},
     "discovery_issuer_mismatch", "names a different issuer"),
    ("sub-too-long", {"claims": {"sub": "s" * 256}, "userinfo": {"sub": "s" * 256}},
     "identifier_too_long", "identifier longer than allowed"),
]


@pytest.mark.parametrize("case_id, script, check, message", CASES, ids=[c[0] for c in CASES])
def test_hostile_token_is_refused(stub_app, stub_browser, stub, case_id, script, check, message):
    for name, value in script.items():
        if value == "__TWO_KEYS__":
            value = [stub.default_key, new_key("stub-key-2")]
        elif value == "__HS256__":
            public_pem = stub.default_key.as_pem(private=False)
            value = (lambda h, c, pem=public_pem: hs256_token({**h, "alg": "HS256"}, c, pem))
        elif name == "claims" and "iss" in value and isinstance(value["iss"], list):
            value = {"iss": [v.replace("__ISSUER__", stub.issuer) for v in value["iss"]]}
        setattr(stub.script, name, value)
    page = start_and_return(stub_browser)
    if check == "discovery_issuer_mismatch":
        # Refused before the browser ever leaves: no attempt reaches the provider.
        assert page.url == "http://localhost/profile" and message in page.text
        assert stub.count("/authorize") == 0 and links(stub_app) == 0
        return
    assert_refused(stub_app, page, check, message)


def test_kid_absent_with_a_single_published_key_is_accepted(stub_app, stub_browser, stub):
    """OpenID Connect Core 10.1 lets a provider with one key omit kid; the signature still counts."""
    stub.script.drop_kid = True
    page = start_and_return(stub_browser)
    assert "is now linked" in page.text
    assert links(stub_app) == 1


def test_several_audiences_with_our_azp_are_accepted(stub_app, stub_browser, stub):
    stub.script.claims = {"aud": [CLIENT_ID, "another-audience"], "azp": CLIENT_ID}
    page = start_and_return(stub_browser)
    assert "is now linked" in page.text
    assert links(stub_app) == 1


def _as_user(app, email: str) -> Browser:
    browser = Browser(app.test_client())
    sign_in(browser, email)
    return browser


def test_key_rotation_fetches_the_new_key_once_then_accepts(stub_app, stub):
    first = start_and_return(_as_user(stub_app, "alex@contoso.com"))
    assert "is now linked" in first.text
    assert stub.count("/jwks.json") == 1

    # The provider rotates: a new key is published and signs from now on.
    rotated = new_key("stub-key-2")
    stub.script.keys = [stub.default_key, rotated]
    stub.script.signing_key = rotated
    stub.script.claims = {"sub": "rotated-subject", "mcid": "555000222"}
    stub.script.userinfo = {"sub": "rotated-subject", "mcid": "555000222"}
    second = start_and_return(_as_user(stub_app, "pat@contoso.com"))
    assert "is now linked" in second.text, second.text[:2000]
    assert stub.count("/jwks.json") == 2  # exactly one refetch for the new kid
    attempt = last_attempt(stub_app)
    assert [s["ok"] for s in attempt.steps if s["step"] == "jwks_refetch"] == [True]

    # The new key is now cached: a third flow signed with it fetches nothing.
    stub.script.claims = {"sub": "third-subject", "mcid": "555000333"}
    stub.script.userinfo = {"sub": "third-subject", "mcid": "555000333"}
    third = start_and_return(_as_user(stub_app, "carl@contoso.com"))
    assert "is now linked" in third.text
    assert stub.count("/jwks.json") == 2


def test_unknown_kid_refetch_is_rate_limited(stub_app, stub):
    """Tokens naming made-up kids cannot make the webapp hammer the provider's JWKS."""
    for n, email in enumerate(["alex@contoso.com", "pat@contoso.com", "carl@contoso.com"]):
        stub.script.signing_key = new_key(f"made-up-{n}")
        page = start_and_return(_as_user(stub_app, email))
        assert "does not publish" in page.text
    # One initial fetch, one refetch for the first unknown kid, none for the next two.
    assert stub.count("/jwks.json") == 2
    assert links(stub_app) == 0
    attempt = last_attempt(stub_app)
    [refetch] = [s for s in attempt.steps if s["step"] == "jwks_refetch"]
    assert refetch["detail"]["reason"] == "rate_limited"


def test_refused_case_can_be_retried_in_the_same_session(stub_app, stub_browser, stub):
    stub.script.claims = {"nonce": "not-the-nonce"}
    assert REJECTED in start_and_return(stub_browser).text
    stub.script.claims = {}
    assert "is now linked" in start_and_return(stub_browser).text
    assert links(stub_app) == 1


# -------- The relying party reuses discovery and the JWKS, and fetches them again once they expire. --------
# The relying party reuses discovery and the JWKS, and fetches them again once they expire.

def test_discovery_is_reused_then_expires(app_ctx, idp):
    client = oidc.client_for(LEARN)
    first = dict(oidc.load_metadata(LEARN, oidc.Trace()))
    assert first["issuer"] == f"{idp.url}/learn"
    client.server_metadata["jwks"] = {"keys": []}  # what Authlib stores after a JWKS fetch
    again = oidc.load_metadata(LEARN, oidc.Trace())
    assert again["_loaded_at"] == first["_loaded_at"] and again["jwks"] == {"keys": []}

    client.server_metadata["_loaded_at"] -= app_ctx.config["OIDC_METADATA_MAX_AGE"] + 1
    fresh = oidc.load_metadata(LEARN, oidc.Trace())
    assert fresh["_loaded_at"] > first["_loaded_at"]
    assert "jwks" not in fresh  # the key set is fetched again with the new document
    assert fresh["token_endpoint"] == first["token_endpoint"]
