"""An authorization code redeemed by a concurrent request cannot be redeemed again."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from authlib.oauth2.rfc6749 import InvalidGrantError
from sqlalchemy import func, select, update

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

        # Another worker redeems the code between our lookup and our claim (it marks it used;
        # the row stays so that a later replay can be recognised and revoke its tokens).
        with db.engine.begin() as other:
            other.execute(update(AuthorizationCode).where(AuthorizationCode.code == "race-code")
                          .values(used_at=int(time.time())))

        grant = AuthorizationCodeGrant.__new__(AuthorizationCodeGrant)
        # The claim comes before any token is generated: the losing request issues nothing.
        with pytest.raises(InvalidGrantError):
            grant.authenticate_user(code)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Token)) == tokens_before
