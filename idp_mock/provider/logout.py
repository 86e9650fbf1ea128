"""OpenID RP-Initiated Logout (the end-session endpoint)."""
from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import render_template

from ..extensions import csrf
from ..oauth2 import get_server
from ..sessions import sign_out
from .blueprint import bp


# Called by relying parties without a CSRF token (OpenID RP-Initiated Logout): at worst it
# signs the person out of the provider.
@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt
def logout():
    server = get_server()
    try:
        end_request = server.validate_endpoint_request("end_session")
    except OAuth2Error:
        end_request = None
    if end_request is None:
        sign_out()
        return render_template("idp/signed_out.html")
    response = server.create_endpoint_response("end_session", end_request)
    if response is not None:
        return response
    return render_template("idp/signed_out.html")
