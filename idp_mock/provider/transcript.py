"""The transcript API: a learner's completed items, for a bearer token of ``transcript.read``."""
from __future__ import annotations

from authlib.integrations.flask_oauth2 import current_token
from flask import g, jsonify, request

from ..oauth2 import require_oauth
from ..services import find_account_by_subject
from .blueprint import bp


@bp.get("/api/transcript")
@require_oauth("transcript.read")
def api_transcript():
    sub = request.args.get("sub", "")
    account = find_account_by_subject(g.issuer, sub) if sub else None
    if current_token.user_id is not None and (
        account is None or current_token.user_id != account.id
    ):
        return jsonify({"error": "access_denied"}), 403
    if account is None:
        return jsonify({"error": "not_found", "error_description": "Unknown sub"}), 404
    items = [item.to_dict() for item in account.profile.transcript_items]
    payload = {"sub": account.subject, "items": items}
    if g.issuer == "learn":
        payload["mcid"] = account.profile.mcid
    return jsonify(payload)
