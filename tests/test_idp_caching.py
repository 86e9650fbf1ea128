"""Discovery and JWKS are cacheable, and a key rotation shows in the JWKS at once."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idp_helpers import make_config  # noqa: E402

from idp_mock import create_app  # noqa: E402
from idp_mock.keys import rotate_signing_key  # noqa: E402


def test_discovery_and_jwks_carry_an_expiry(tmp_path):
    client = create_app(make_config(tmp_path / "idp.sqlite")).test_client()
    discovery = client.get("/learn/.well-known/openid-configuration")
    assert discovery.status_code == 200
    assert discovery.json["jwks_uri"].endswith("/learn/jwks.json")
    assert discovery.cache_control.public and discovery.cache_control.max_age == 3600
    jwks = client.get("/learn/jwks.json")
    assert jwks.status_code == 200 and len(jwks.json["keys"]) == 1
    assert jwks.cache_control.public and jwks.cache_control.max_age == 300
    # Authorization responses are never cached.
    assert client.get("/learn/authorize").headers["Cache-Control"] == "no-store"


def test_rotation_and_retirement_show_in_the_next_jwks(tmp_path):
    app = create_app(make_config(tmp_path / "idp.sqlite"))
    client = app.test_client()
    [first] = client.get("/learn/jwks.json").json["keys"]
    with app.app_context():
        new_kid = rotate_signing_key("learn").kid
    kids = [k["kid"] for k in client.get("/learn/jwks.json").json["keys"]]
    assert kids == [first["kid"], new_kid]
    with app.app_context():
        newest_kid = rotate_signing_key("learn", retire_previous=True).kid
    assert [k["kid"] for k in client.get("/learn/jwks.json").json["keys"]] == [newest_kid]
    # The other issuer's keys are its own.
    assert newest_kid not in {k["kid"] for k in client.get("/partner-university/jwks.json").json["keys"]}
