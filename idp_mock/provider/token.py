"""The token and userinfo endpoints (Authlib's), for relying parties' back-channel calls."""
from __future__ import annotations

from ..extensions import csrf
from ..models import db
from ..oauth2 import get_server
from ..qa.faults import token_response
from .blueprint import bp


# The token endpoint authenticates the client (secret + PKCE), userinfo takes a bearer token:
# neither is a browser form, so neither takes a CSRF token.
@bp.post("/token")
@csrf.exempt
def issue_token():
    response = token_response(get_server())
    # An issued token and its code's claim (flushed by the grant) are committed here, after
    # the id_token is signed: one transaction for the whole exchange.
    db.session.commit()
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    return get_server().create_endpoint_response("userinfo")
