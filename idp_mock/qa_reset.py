"""QA control API: ``POST /qa/reset`` puts both providers back to the seeded demo accounts.

Off unless ``IDP_CONTROL_TOKEN`` is configured; callers send it as a bearer token. The
webapp's demo reset calls it so one button resets everything.
"""

from __future__ import annotations

import hmac

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import jsonify
from flask import request

qa = Blueprint("idp_qa", __name__, url_prefix="/qa")


def require_control_token() -> None:
    expected = current_app.config.get("IDP_CONTROL_TOKEN")
    if not expected or not current_app.config.get("IDP_QA_MODE"):
        abort(404)  # the control API does not exist outside QA and demo setups
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        response = jsonify({"error": "invalid_token"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="qa"'
        abort(response)


@qa.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@qa.post("/reset")
def reset():
    from .demo import reset_demo

    require_control_token()
    created = reset_demo()
    return jsonify({"status": "reset", "demo_accounts": len(created)})
