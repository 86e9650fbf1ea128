"""An authorization code redeemed by a concurrent request cannot be redeemed again."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from authlib.oauth2.rfc6749 import InvalidGrantError
from sqlalchemy import delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idp_helpers import make_config  # noqa: E402

from idp_mock import create_app  # noqa: E402
from idp_mock.demo import seed_demo  # noqa: E402
from idp_mock.models import Account, AuthorizationCode, Token, db  # noqa: E402
from idp_mock.oauth2 import AuthorizationCodeGrant  # noqa: E402


def test_second_redemption_of_a_code_is_invalid_grant_and_saves_no_token(tmp_path):
    app = create_app(make_config(tmp_path / "idp.sqlite"))
    with app.app_context():
        seed_demo()
        account = db.session.scalar(select(Account).filter_by(issuer="learn", email="alex.learner@outlook.com"))
        code = AuthorizationCode(issuer="learn", code="race-code", client_id="partner-center-learn",
                                 redirect_uri="http://localhost/cb", scope="openid", user_id=account.id,
                                 nonce="n", auth_time=int(time.time()), issued_at=int(time.time()))
        db.session.add(code)
        db.session().expire_on_commit = False  # the code stays loaded, as in the token request
        db.session.commit()
        tokens_before = db.session.scalar(select(func.count()).select_from(Token))

        # Another worker redeems the code between our lookup and our deletion.
        with db.engine.begin() as other:
            other.execute(delete(AuthorizationCode).where(AuthorizationCode.code == "race-code"))

        grant = AuthorizationCodeGrant.__new__(AuthorizationCodeGrant)
        db.session.add(Token(issuer="learn", client_id="partner-center-learn", user_id=account.id,
                             token_type="Bearer", access_token="would-be-second-token", scope="openid",
                             issued_at=int(time.time()), expires_in=3600))
        with pytest.raises(InvalidGrantError):
            grant.delete_authorization_code(code)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Token)) == tokens_before
        assert db.session.scalar(select(Token).filter_by(access_token="would-be-second-token")) is None
