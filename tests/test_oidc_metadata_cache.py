"""The relying party reuses discovery and the JWKS, and fetches them again once they expire."""
from __future__ import annotations

from webapp.linking import oidc
from webapp.models import LEARN


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
