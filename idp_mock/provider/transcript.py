"""The transcript API: learners' completed items, for a bearer token of ``transcript.read``.

``GET /api/transcript?sub=…`` answers one subject (a learner's own token may read only its own);
``POST /api/transcripts`` answers a page of up to ``TRANSCRIPT_PAGE_MAX`` subjects in one call,
for a client's service token only (client_credentials): the data refresh reads thousands of
links, and one round trip per link was most of its time.
"""
from __future__ import annotations

from authlib.integrations.flask_oauth2 import current_token
from flask import g, jsonify, request
from functools import cache

from sqlalchemy import bindparam, select

from ..extensions import csrf, db
from ..models import Account, LearnProfile, TranscriptItem
from ..bearer import require_oauth
from ..services import find_account_by_subject
from .blueprint import bp

TRANSCRIPT_PAGE_MAX = 500


def _transcript(account: Account) -> dict:
    payload = {"sub": account.subject,
               "items": [item.to_dict() for item in account.profile.transcript_items]}
    if g.issuer == "learn":
        payload["mcid"] = account.profile.mcid
    return payload


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
    return jsonify(_transcript(account))


@bp.post("/api/transcripts")
@csrf.exempt  # a bearer-token API: no cookie, no browser form
@require_oauth("transcript.read")
def api_transcripts():
    """``{"subs": [...]}`` -> ``{"transcripts": [{sub, items[, mcid]}...], "unknown": [...]}``."""
    if current_token.user_id is not None:
        # A learner's token reads that learner's transcript only (the single-subject form).
        return jsonify({"error": "access_denied",
                        "error_description": "Needs a client_credentials token"}), 403
    body = request.get_json(silent=True)
    subs = body.get("subs") if isinstance(body, dict) else None
    if not isinstance(subs, list) or not all(isinstance(s, str) and 0 < len(s) <= 64 for s in subs):
        return jsonify({"error": "invalid_request",
                        "error_description": "subs must be a list of subject strings"}), 400
    if len(subs) > TRANSCRIPT_PAGE_MAX:
        return jsonify({"error": "invalid_request",
                        "error_description": f"At most {TRANSCRIPT_PAGE_MAX} subs per call"}), 400
    wanted = list(dict.fromkeys(subs))
    # One query of plain rows (no ORM objects): the same answer as the single-subject form.
    found: dict[str, dict] = {}
    learn = g.issuer == "learn"
    for row in db.session.execute(_page_statement(), {"issuer": g.issuer, "subs": wanted}):
        transcript = found.get(row.subject)
        if transcript is None:
            transcript = found[row.subject] = {"sub": row.subject, "items": []}
            if learn:
                transcript["mcid"] = row.mcid
        if row.public_id is not None:
            transcript["items"].append({"id": row.public_id, "kind": row.kind, "title": row.title,
                                        "level": row.level, "code": row.code,
                                        "completed_at": row.completed_at.isoformat()})
    return jsonify({"transcripts": [found[s] for s in wanted if s in found],
                    "unknown": [s for s in wanted if s not in found]})


@cache
def _page_statement():
    return (select(Account.subject, LearnProfile.mcid, TranscriptItem.public_id, TranscriptItem.kind,
                   TranscriptItem.title, TranscriptItem.level, TranscriptItem.code,
                   TranscriptItem.completed_at)
            .join(LearnProfile, LearnProfile.id == Account.profile_id)
            .outerjoin(TranscriptItem, TranscriptItem.profile_id == LearnProfile.id)
            .where(Account.issuer == bindparam("issuer"),
                   Account.subject.in_(bindparam("subs", expanding=True)))
            .order_by(Account.id, TranscriptItem.completed_at, TranscriptItem.id))
