"""The linking flow: start at Partner Center, sign in at the provider, come back, record the link."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..models import LEARN, PARTNER_UNIVERSITY, PROVIDERS
from ..traces import recorder
from . import oidc
from .forms import LinkForm, RemoveLinkForm
from .flow_errors import FlowError, describe_provider_error
from .id_token_checks import validate_id_token
from .response_checks import check_response_issuer
from .rules import LinkRefused, provider_label
from .service import active_link, associate_account, remove_link

bp = Blueprint("linking", __name__, url_prefix="/link")


def _provider_or_404(provider: str) -> str:
    if provider not in PROVIDERS:
        abort(404)
    return provider


def _flow_error_text(exc: FlowError) -> str:
    """The user's message; in QA mode a failure also names the failed check (the flow inspector
    always does). A refusal by the rules or a cancel is no failed check."""
    if exc.outcome in ("refused", "cancelled") or not current_app.config.get("QA_MODE"):
        return exc.message
    return _("%(message)s (Failed check: %(check)s)", message=exc.message, check=exc.check)


@bp.route("/<provider>/start", methods=["POST"])
@login_required
def start(provider):
    provider = _provider_or_404(provider)
    form = LinkForm()
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("profile.profile"))
    login_hint = None
    if form.use_university_email.data:
        # The email comes from the user's own Partner University link, never from the form.
        university = active_link(current_user, PARTNER_UNIVERSITY)
        if provider != LEARN or university is None:
            return render_template("errors/error.html", code=400, error=None, message=_(
                "There is no Partner University account linked whose email could be used. Nothing "
                "was started.")), 400
        login_hint = university.email
    # Housekeeping rides on the start of a flow: one indexed delete, at most every few minutes.
    recorder.purge_old_traces_if_due()
    trace = recorder.Trace()
    attempt = recorder.start_attempt(current_user, provider)
    redirect_uri = url_for("linking.callback", provider=provider, _external=True)
    try:
        url, _state = oidc.build_authorization(provider, redirect_uri, trace, login_hint=login_hint,
                                               work_user_id=current_user.id, attempt_id=attempt.id)
    except FlowError as exc:
        trace.add("outcome", False, outcome="failed", check=exc.check, message=exc.message)
        recorder.finish_attempt(attempt, trace, "failed", exc.message)
        flash(_flow_error_text(exc), "error")
        return redirect(url_for("profile.profile"))
    recorder.save_steps(attempt, trace)
    return redirect(url)


@bp.route("/<provider>/callback")
@login_required
def callback(provider):
    provider = _provider_or_404(provider)
    trace = recorder.Trace()
    params = request.args.to_dict(flat=True)
    trace.add("redirect_back", None, url=request.base_url, parameters=oidc.redact_mapping(params))
    state_data = oidc.pop_state_data(provider, params.get("state"))
    attempt = recorder.find_attempt(state_data.get("attempt_id")) if state_data else None
    try:
        if not state_data or state_data.get("work_user_id") != current_user.id \
                or attempt is None or attempt.outcome != recorder.OUTCOME_PENDING:
            trace.add("check_state", False, state_known=bool(state_data),
                      same_work_user=bool(state_data) and state_data.get("work_user_id") == current_user.id,
                      flow_pending=attempt is not None and attempt.outcome == recorder.OUTCOME_PENDING)
            # The response is traced on its own attempt of this user: never appended to a
            # finished trace or to another user's.
            attempt = recorder.start_attempt(current_user, provider)
            raise FlowError("state_mismatch", _(
                "This sign-in response does not belong to a linking flow started in this session "
                "(missing, reused or foreign state). Nothing was linked; start again from My Learn profile."))
        trace.add("check_state", True)
        # Error answers too: RFC 9207 covers every authorization response.
        check_response_issuer(provider, params, trace)
        if params.get("error"):
            raise describe_provider_error(provider, params["error"], params.get("error_description"))
        if not params.get("code"):
            raise FlowError("code_missing", _(
                "The provider sent no authorization code. Nothing was linked; please start again."))
        token = oidc.exchange_code(provider, params["code"], state_data, trace)
        claims = validate_id_token(provider, token, state_data.get("nonce"), trace)
        userinfo = oidc.fetch_userinfo(provider, token, claims, trace)
        account = oidc.personal_account_from(
            provider, claims, userinfo, current_app.config["LEARN_ACCOUNT_TYPE_WHEN_ABSENT"])
        try:
            link = associate_account(current_user, account, address=request.remote_addr)
        except LinkRefused as refused:
            trace.add("rules", False, code=refused.code, message=refused.message,
                      next_date=refused.next_date.isoformat() if refused.next_date else None)
            raise FlowError(f"rule:{refused.code}", refused.message, outcome="refused")
    except FlowError as exc:
        trace.add("outcome", False, outcome=exc.outcome, check=exc.check, transient=exc.transient,
                  message=exc.message)
        recorder.finish_attempt(attempt, trace, exc.outcome, exc.message)
        # Signing in again with the account that is already linked is not an error.
        flash(_flow_error_text(exc), "info" if exc.check == "rule:already_linked" else "error")
        return redirect(url_for("profile.profile"))
    except Exception as exc:
        # An unexpected error still closes the trace, so QA sees where the flow stopped.
        trace.add("outcome", False, outcome="failed", check="internal_error", error=type(exc).__name__)
        recorder.finish_after_error(attempt, trace, _("Something went wrong. Nothing was linked."))
        raise

    trace.add("rules", True, provider=account.provider, mcid=account.mcid)
    trace.add("link_recorded", True, link_id=link.id, subject=link.subject, mcid=link.mcid,
              organization_id=link.organization_id)
    message = _("Your %(provider)s account %(email)s is now linked to your work account.",
                provider=provider_label(provider), email=link.email)
    trace.add("outcome", True, outcome="linked", message=message)
    recorder.finish_attempt(attempt, trace, "linked", message)
    flash(message, "success")
    return redirect(url_for("profile.profile"))


@bp.route("/<provider>/remove", methods=["POST"])
@login_required
def remove(provider):
    provider = _provider_or_404(provider)
    if not RemoveLinkForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("profile.profile"))
    link = remove_link(current_user, provider, request.remote_addr)
    if link is None:
        flash(_("There was no %(provider)s account linked.", provider=provider_label(provider)), "info")
    else:
        flash(_("Access removed: %(email)s is no longer linked to your work account.", email=link.email),
              "success")
    return redirect(url_for("profile.profile"))


@bp.route("/<provider>/provider-signout", methods=["POST"])
@login_required
def provider_signout(provider):
    """Sign out of the provider's own session (RP-initiated logout); links stay as they are."""
    provider = _provider_or_404(provider)
    if not LinkForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("profile.profile"))
    try:
        return oidc.provider_logout_redirect(provider, url_for("profile.profile", _external=True))
    except FlowError as exc:
        flash(exc.message, "error")
        return redirect(url_for("profile.profile"))


def finish_provider_signout(state: str):
    """Back from the provider's end_session_endpoint at /profile?state=…"""
    provider = oidc.finish_provider_logout(state)
    if provider is None:
        flash(_("This sign-out response does not belong to a sign-out started in this session "
                "(missing, reused or foreign state). Nothing changed here."), "error")
    else:
        flash(_("You are signed out of %(provider)s. Your linked accounts are unchanged.",
                provider=provider_label(provider)), "success")
    return redirect(url_for("profile.profile"))
