"""The flow inspector: every linking attempt as a timeline of hops and checks, and as JSON."""
import json
from datetime import datetime, timezone

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required

from ..models import ROLE_GLOBAL_ADMIN, LinkAttempt
from . import recorder

bp = Blueprint("traces", __name__, url_prefix="/traces")


def _visible_attempt_or_error(attempt_id: int) -> LinkAttempt:
    attempt = recorder.find_attempt(attempt_id)
    if attempt is None:
        abort(404)
    if not recorder.trace_visible_to(attempt, current_user):
        # Inside the organization the trace exists but is not yours; elsewhere it does not exist.
        same_org = attempt.work_user.organization_id == current_user.organization_id
        abort(403 if same_org else 404)
    return attempt


# Labels translated when shown (lazy_gettext): a page translates the labels it shows, not the
# whole table for each step or row.
STEP_LABELS = {
    "discovery": _l("Discovery document"),
    "authorization_request": _l("Authorization request"),
    "redirect_back": _l("Redirect back from the provider"),
    "token_auth_method": _l("Client authentication method"),
    "check_state": _l("State check"),
    "check_response_iss": _l("Answer's issuer check (RFC 9207)"),
    "token_request": _l("Token request"),
    "token_response": _l("Token response"),
    "id_token_decode": _l("ID token decoding"),
    "id_token_decoded": _l("ID token (decoded header and claims)"),
    "check_alg": _l("Signing algorithm check"),
    "jwks_refetch": _l("Signing keys fetched again"),
    "check_signature": _l("Signature check"),
    "userinfo": _l("UserInfo"),
    "rules": _l("Partner Center linking rules"),
    "link_recorded": _l("Link recorded"),
    "outcome": _l("Outcome"),
}

OUTCOME_LABELS = {
    "pending": _l("Pending"),
    "linked": _l("Linked"),
    "cancelled": _l("Cancelled"),
    "refused": _l("Refused"),
    "failed": _l("Failed"),
    "abandoned": _l("Abandoned"),
}


def step_label(step: str) -> str:
    if step in STEP_LABELS:
        return str(STEP_LABELS[step])
    if step.startswith("check_"):
        return _("Claim check: %(claim)s", claim=step[len("check_"):])
    return step


def outcome_label(outcome: str) -> str:
    return str(OUTCOME_LABELS.get(outcome, outcome))


def outcome_badge(outcome: str) -> str:
    return {"linked": "ok", "failed": "fail", "refused": "fail", "cancelled": "warn",
            "abandoned": "warn"}.get(outcome, "")


@bp.app_context_processor
def trace_helpers():
    return {"trace_step_label": step_label, "trace_outcome_label": outcome_label,
            "trace_outcome": recorder.shown_outcome, "trace_outcome_badge": outcome_badge}


@bp.app_template_filter("pretty_json")
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _claim_times(claims) -> list[tuple[str, str]]:
    """iat, exp, nbf and auth_time of a decoded token as readable UTC times."""
    if not isinstance(claims, dict):
        return []
    times = []
    for name in ("iat", "nbf", "auth_time", "exp"):
        value = claims.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                moment = datetime.fromtimestamp(value, tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                continue
            times.append((name, moment.strftime("%Y-%m-%d %H:%M:%S UTC")))
    return times


def _timeline(steps: list) -> list[dict]:
    """Each step with its time of day and the milliseconds since the first step."""
    rows, first = [], None
    for step in steps:
        try:
            at = datetime.fromisoformat(str(step.get("at", "")).rstrip("Z"))
        except ValueError:
            at = None
        first = first or at
        rows.append({**step, "time": at.strftime("%H:%M:%S.%f")[:-3] if at else "",
                     "elapsed_ms": round((at - first).total_seconds() * 1000) if at and first else None,
                     "claim_times": _claim_times((step.get("detail") or {}).get("claims"))})
    return rows


@bp.after_request
def no_store(response):
    # Traces hold personal data: keep them out of shared caches and the browser's history cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.cli.command("close-abandoned")
def close_abandoned_command():
    """Close as abandoned the attempts still pending after the state's lifetime."""
    print(f"{recorder.close_abandoned_attempts()} attempt(s) closed as abandoned.")


@bp.route("")
@login_required
def index():
    organization_wide = current_user.has_role(ROLE_GLOBAL_ADMIN)
    user_email = (request.args.get("user") or "").strip() if organization_wide else ""
    return render_template("traces/index.html",
                           attempts=recorder.traces_for(current_user, user_email=user_email or None),
                           organization_wide=organization_wide, user_email=user_email)


@bp.route("/<int:attempt_id>")
@login_required
def detail(attempt_id: int):
    attempt = _visible_attempt_or_error(attempt_id)
    return render_template("traces/detail.html", attempt=attempt, steps=_timeline(attempt.steps or []))


@bp.route("/<int:attempt_id>.json")
@login_required
def download(attempt_id: int):
    attempt = _visible_attempt_or_error(attempt_id)
    body = json.dumps(recorder.trace_document(attempt), indent=2, ensure_ascii=False)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="link-trace-{attempt.id}.json"'})
