"""The linking flow: start at Partner Center, sign in at the provider, come back, record the link."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import oidc, services
from ..extensions import db
from ..main.forms import LinkForm, RemoveLinkForm
from ..models import PROVIDERS, LinkAttempt

bp = Blueprint("linking", __name__, url_prefix="/link")


def _provider_or_404(provider: str) -> str:
    if provider not in PROVIDERS:
        abort(404)
    return provider


def _finish(attempt: LinkAttempt | None, trace: oidc.Trace, outcome: str, message: str | None) -> None:
    """Store the trace; a failure of the flow never leaves a half-written link behind."""
    if attempt is None:
        return
    attempt.steps = list(attempt.steps or []) + trace.steps
    attempt.outcome = outcome
    attempt.message = message
    attempt.finished_at = services.now()
    db.session.commit()


def _new_attempt(provider: str) -> LinkAttempt:
    attempt = LinkAttempt(work_user_id=current_user.id, provider=provider,
                          started_at=services.now(), outcome="pending", steps=[])
    db.session.add(attempt)
    db.session.flush()
    return attempt


def _flow_error_text(exc: oidc.FlowError) -> str:
    """The user's message; protocol failures also name the failed check, for QA."""
    if exc.outcome == "refused":
        return exc.message
    return _("%(message)s (Failed check: %(check)s)", message=exc.message, check=exc.check)


@bp.route("/<provider>/start", methods=["POST"])
@login_required
def start(provider):
    provider = _provider_or_404(provider)
    if not LinkForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("main.profile"))
    # Housekeeping rides on the start of a flow: one indexed delete, at most every few minutes.
    services.purge_old_traces_if_due()
    trace = oidc.Trace()
    attempt = _new_attempt(provider)
    redirect_uri = url_for("linking.callback", provider=provider, _external=True)
    try:
        url, _state = oidc.build_authorization(provider, redirect_uri, trace,
                                               work_user_id=current_user.id, attempt_id=attempt.id)
    except oidc.FlowError as exc:
        trace.add("outcome", False, outcome="failed", check=exc.check, message=exc.message)
        _finish(attempt, trace, "failed", exc.message)
        flash(_flow_error_text(exc), "error")
        return redirect(url_for("main.profile"))
    attempt.steps = trace.steps
    db.session.commit()
    return redirect(url)


@bp.route("/<provider>/callback")
@login_required
def callback(provider):
    provider = _provider_or_404(provider)
    trace = oidc.Trace()
    params = request.args.to_dict(flat=True)
    trace.add("redirect_back", None, url=request.base_url, parameters=oidc.redact_mapping(params))
    state_data = oidc.pop_state_data(provider, params.get("state"))
    attempt = None
    if state_data and state_data.get("attempt_id"):
        attempt = db.session.get(LinkAttempt, state_data["attempt_id"])
    try:
        if not state_data or state_data.get("work_user_id") != current_user.id \
                or attempt is None or attempt.outcome != "pending":
            trace.add("check_state", False, state_known=bool(state_data),
                      same_work_user=bool(state_data) and state_data.get("work_user_id") == current_user.id,
                      flow_pending=attempt is not None and attempt.outcome == "pending")
            # The response is traced on its own attempt of this user: never appended to a
            # finished trace or to another user's.
            attempt = _new_attempt(provider)
            raise oidc.FlowError("state_mismatch", _(
                "This sign-in response does not belong to a linking flow started in this session "
                "(missing, reused or foreign state). Nothing was linked; start again from My Learn profile."))
        trace.add("check_state", True)
        if params.get("error"):
            raise oidc.describe_provider_error(provider, params["error"], params.get("error_description"))
        if not params.get("code"):
            raise oidc.FlowError("code_missing", _(
                "The provider sent no authorization code. Nothing was linked; please start again."))
        token = oidc.exchange_code(provider, params["code"], state_data, trace)
        claims = oidc.validate_id_token(provider, token, state_data.get("nonce"), trace)
        userinfo = oidc.fetch_userinfo(provider, token, claims, trace)
        account = oidc.personal_account_from(provider, claims, userinfo)
        try:
            link = services.associate_account(current_user, account)
        except services.LinkRefused as refused:
            trace.add("rules", False, code=refused.code, message=refused.message,
                      next_date=refused.next_date.isoformat() if refused.next_date else None)
            raise oidc.FlowError(f"rule:{refused.code}", refused.message, outcome="refused")
    except oidc.FlowError as exc:
        trace.add("outcome", False, outcome=exc.outcome, check=exc.check, transient=exc.transient,
                  message=exc.message)
        _finish(attempt, trace, exc.outcome, exc.message)
        # Signing in again with the account that is already linked is not an error.
        flash(_flow_error_text(exc), "info" if exc.check == "rule:already_linked" else "error")
        return redirect(url_for("main.profile"))
    except Exception as exc:
        # An unexpected error still closes the trace, so QA sees where the flow stopped.
        attempt_id = attempt.id if attempt is not None else None
        db.session.rollback()
        trace.add("outcome", False, outcome="failed", check="internal_error", error=type(exc).__name__)
        _finish(db.session.get(LinkAttempt, attempt_id) if attempt_id else None, trace, "failed",
                _("Something went wrong. Nothing was linked."))
        raise

    trace.add("rules", True, provider=account.provider, mcid=account.mcid)
    trace.add("link_recorded", True, link_id=link.id, subject=link.subject, mcid=link.mcid,
              organization_id=link.organization_id)
    message = _("Your %(provider)s account %(email)s is now linked to your work account.",
                provider=services.provider_label(provider), email=link.email)
    trace.add("outcome", True, outcome="linked", message=message)
    _finish(attempt, trace, "linked", message)
    flash(message, "success")
    return redirect(url_for("main.profile"))


@bp.route("/<provider>/remove", methods=["POST"])
@login_required
def remove(provider):
    provider = _provider_or_404(provider)
    if not RemoveLinkForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("main.profile"))
    link = services.remove_link(current_user, provider)
    if link is None:
        flash(_("There was no %(provider)s account linked.", provider=services.provider_label(provider)), "info")
    else:
        flash(_("Access removed: %(email)s is no longer linked to your work account.", email=link.email),
              "success")
    return redirect(url_for("main.profile"))


@bp.route("/<provider>/provider-signout", methods=["POST"])
@login_required
def provider_signout(provider):
    """Sign out of the provider's own session (RP-initiated logout); links stay as they are."""
    provider = _provider_or_404(provider)
    if not LinkForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("main.profile"))
    try:
        return oidc.provider_logout_redirect(provider, url_for("main.profile", _external=True))
    except oidc.FlowError as exc:
        flash(exc.message, "error")
        return redirect(url_for("main.profile"))


def finish_provider_signout(state: str):
    """Back from the provider's end_session_endpoint at /profile?state=…"""
    provider = oidc.finish_provider_logout(state)
    if provider is None:
        flash(_("This sign-out response does not belong to a sign-out started in this session "
                "(missing, reused or foreign state). Nothing changed here."), "error")
    else:
        flash(_("You are signed out of %(provider)s. Your linked accounts are unchanged.",
                provider=services.provider_label(provider)), "success")
    return redirect(url_for("main.profile"))
