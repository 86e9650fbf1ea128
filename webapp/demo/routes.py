"""The trainer's demo guide (ready stories with their accounts) and the one-step demo reset."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from common.demo_accounts import DEMO_ACCOUNTS

from ..permissions import allowed, is_operator
from .forms import ResetDemoForm
from .reset import reset_demo_data, reset_providers
from .seed import DEMO_ORGANIZATIONS, DEMO_PASSWORD, DEMO_WORK_USERS
from .stories import provider_url, stories

bp = Blueprint("demo", __name__, url_prefix="/demo")


@bp.before_request
def demo_mode_only():
    if not current_app.config.get("DEMO_MODE"):
        abort(404)


@bp.route("")
def guide():
    organizations = {o["partner_id"]: o["name"] for o in DEMO_ORGANIZATIONS}
    return render_template(
        "demo/guide.html", stories=stories(), password=DEMO_PASSWORD,
        work_users=[{"organization": organizations[pid], "email": email, "name": name, "roles": roles,
                     "purpose": purpose} for pid, email, name, roles, purpose in DEMO_WORK_USERS],
        provider_accounts=DEMO_ACCOUNTS, provider_url=provider_url, can_reset=is_operator(current_user),
        operators_configured=bool(current_app.config.get("OPERATORS")))


@bp.route("/reset", methods=["GET", "POST"])
@allowed(is_operator)
def reset():
    form = ResetDemoForm()
    if form.validate_on_submit():
        try:
            reset_demo_data(actor=current_user._get_current_object(), address=request.remote_addr)
        except Exception:
            # One transaction: nothing was changed, the operator is still signed in.
            current_app.logger.exception("demo reset failed")
            flash(_("The demo could not be reset; nothing was changed. Try again, or run: "
                    "flask --app webapp reset-demo"), "error")
            return redirect(url_for("demo.guide"))
        # The operator's own row was deleted with the rest: their session ends here, cleanly.
        logout_user()
        session.clear()
        flash(_("The demo was reset to its seeded state: links, traces, users and the clock. "
                "Sign in again."), "success")
        providers = reset_providers()  # after the commit: the webapp's part is done
        if not providers.done:
            flash(_("The identity providers were not reset (%(reason)s). Run: flask --app idp_mock "
                    "reset-demo", reason=_("no control token configured")
                    if providers.detail == "not_configured" else providers.detail), "error")
        else:
            flash(_("The identity providers are back to their demo accounts."), "success")
        return redirect(url_for("auth.login"))
    return render_template("demo/reset.html", form=form), (400 if form.errors else 200)
