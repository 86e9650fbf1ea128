"""The QA control API: JSON for automated suites, behind ONE bearer-token check.

It exists only in QA mode (``IDP_QA_MODE``) and when ``IDP_CONTROL_TOKEN`` is configured (404
otherwise); callers send the token as ``Authorization: Bearer``. Validation errors answer
``400 {"error": ..., "field": ...}``. Routes: ``POST /qa/reset`` (both providers back to the demo
accounts), ``GET``/``PUT /qa/clock`` (the simulated date Partner Center shares), ``GET /qa/scenarios/catalog``, and under ``/<issuer>/qa/``: scenarios, signing keys
(here) and accounts (``api_accounts.py``).
"""

from __future__ import annotations

import hmac

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from sqlalchemy.exc import IntegrityError

from .. import clock
from ..demo import reset_demo
from ..issuers import issuer_blueprint
from ..keys import published_keys
from ..keys import rotate_signing_key
from ..models import SigningKey
from ..models import db
from ..services import normalize_email
from .arming import ScenarioError
from .arming import arm_scenario
from .arming import clear_scenarios
from .arming import list_scenarios
from .arming import scenario_to_dict
from .catalog import CATALOG
from .catalog import SCOPES

api = Blueprint("qa_api", __name__)
#: The API of one issuer, under ``/<issuer>/qa`` (nested: the token check and errors apply).
issuer_api = issuer_blueprint("qa", __name__, url_prefix="/qa")
api.register_blueprint(issuer_api)

#: Longest grace period accepted for a key rotation (30 days).
MAX_GRACE_SECONDS = 30 * 24 * 3600


class ApiError(Exception):
    def __init__(self, message: str, field: str | None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


@api.before_request
def require_control_token():
    expected = current_app.config.get("IDP_CONTROL_TOKEN") or ""
    if not expected:
        abort(404)  # no token configured: the control API does not exist
    scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
    # Constant-time comparison; the token is never logged or echoed.
    if scheme.lower() != "bearer" or not given or not hmac.compare_digest(
            given.strip().encode(), expected.encode()):
        response = jsonify({"error": "A valid 'Authorization: Bearer <IDP_CONTROL_TOKEN>' "
                                     "header is required.", "field": "Authorization"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="qa"'
        return response
    return None


@api.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@api.errorhandler(ApiError)
def _api_error(error: ApiError):
    db.session.rollback()
    return jsonify({"error": error.message, "field": error.field}), error.status


@api.errorhandler(IntegrityError)
def _api_conflict(error):
    db.session.rollback()
    return jsonify({"error": "This change conflicts with existing data; nothing was changed.",
                    "field": None}), 400


@api.errorhandler(404)
def _api_not_found(error):
    return jsonify({"error": "Not found.", "field": None}), 404


@api.errorhandler(405)
def _api_method_not_allowed(error):
    return jsonify({"error": "Method not allowed.", "field": None}), 405


@api.post("/qa/reset")
def reset():
    """Both providers back to the seeded demo accounts (the webapp's demo reset calls it)."""
    created = reset_demo()
    return jsonify({"status": "reset", "demo_accounts": len(created)})


def _clock_to_dict() -> dict:
    return {"offset_seconds": int(clock.clock_offset().total_seconds()),
            "today": clock.today().isoformat()}


@api.get("/qa/clock")
def clock_get():
    """The offset completions are dated with, and the day it gives now."""
    return jsonify(_clock_to_dict())


@api.put("/qa/clock")
def clock_put():
    """Partner Center's simulated clock moved: date completions by it (0: real time again)."""
    data = json_body({"offset_seconds"})
    seconds = data.get("offset_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int) \
            or abs(seconds) > clock.MAX_OFFSET_SECONDS:
        raise ApiError(f"'offset_seconds' must be a whole number from -{clock.MAX_OFFSET_SECONDS} "
                       f"to {clock.MAX_OFFSET_SECONDS}.", "offset_seconds")
    clock.set_clock_offset(seconds)
    db.session.commit()
    return jsonify(_clock_to_dict())


def json_body(allowed: set[str]) -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError("The request body must be a JSON object "
                       "(Content-Type: application/json).", "body")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiError(f"Unknown field '{unknown[0]}'.", unknown[0])
    return data


def string_field(data: dict, key: str, *, required=False, max_len=255, min_len=1,
            default=None) -> str | None:
    if key not in data or data[key] is None:
        if required:
            raise ApiError(f"'{key}' is required.", key)
        return default
    value = data[key]
    if not isinstance(value, str) or not min_len <= len(value.strip()) <= max_len:
        raise ApiError(f"'{key}' must be a string of {min_len} to {max_len} characters.", key)
    return value.strip()


def email_field(data: dict, key: str, required=False) -> str | None:
    value = string_field(data, key, required=required)
    if value is not None and ("@" not in value or value.startswith("@") or " " in value):
        raise ApiError(f"'{key}' must be an email address.", key)
    return normalize_email(value) if value else None


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------


@api.get("/qa/scenarios/catalog")
def scenario_catalog():
    return jsonify({"scenarios": [spec.to_dict() for spec in CATALOG.values()],
                    "scopes": list(SCOPES)})


@issuer_api.get("/scenarios")
def scenarios_list():
    include_consumed = request.args.get("include_consumed", "1") not in ("0", "false")
    rows = list_scenarios(g.issuer, include_consumed=include_consumed)
    return jsonify({"issuer": g.issuer, "scenarios": [scenario_to_dict(r) for r in rows]})


@issuer_api.post("/scenarios")
def scenarios_arm():
    data = json_body({"scenario", "scope", "client_id", "account", "params"})
    try:
        row = arm_scenario(
            g.issuer,
            data.get("scenario"),
            scope=data.get("scope", "next-flow"),
            client_id=data.get("client_id"),
            account_email=data.get("account"),
            params=data.get("params"),
        )
    except ScenarioError as error:
        raise ApiError(error.message, error.field) from None
    return jsonify(scenario_to_dict(row)), 201


@issuer_api.delete("/scenarios")
def scenarios_clear_all():
    return jsonify({"cleared": clear_scenarios(g.issuer)})


@issuer_api.delete("/scenarios/<int:scenario_id>")
def scenarios_clear_one(scenario_id: int):
    cleared = clear_scenarios(g.issuer, scenario_id)
    if not cleared:
        raise ApiError("No such scenario at this issuer.", "id", 404)
    return jsonify({"cleared": cleared})


# --------------------------------------------------------------------------
# Signing keys
# --------------------------------------------------------------------------


def _key_to_dict(row: SigningKey) -> dict:
    return {"kid": row.kid, "active": row.active,
            "leaves_jwks_at": row.retired_at.isoformat(timespec="seconds") + "Z"
            if row.retired_at else None}


@issuer_api.post("/rotate-key")
def rotate_key():
    data = request.get_json(silent=True)
    if data is None and not request.get_data():
        data = {}
    if not isinstance(data, dict):
        raise ApiError("The request body must be a JSON object.", "body")
    unknown = sorted(set(data) - {"grace_seconds"})
    if unknown:
        raise ApiError(f"Unknown field '{unknown[0]}'.", unknown[0])
    grace = data.get("grace_seconds")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)
                              or not 0 <= grace <= MAX_GRACE_SECONDS):
        raise ApiError(f"'grace_seconds' must be a whole number from 0 to {MAX_GRACE_SECONDS}.",
                       "grace_seconds")
    new = rotate_signing_key(g.issuer, grace_seconds=grace)
    return jsonify({"kid": new.kid,
                    "published": [_key_to_dict(row) for row in published_keys(g.issuer)]}), 201


@issuer_api.get("/keys")
def keys_list():
    return jsonify({"published": [_key_to_dict(row) for row in published_keys(g.issuer)]})
