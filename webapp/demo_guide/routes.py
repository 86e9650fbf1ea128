"""The trainer's demo guide (ready stories with their accounts) and the one-step demo reset."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user, logout_user

from idp_mock.demo import DEMO_ACCOUNTS

from page_catalog import gettext as _

from .. import services
from ..demo import DEMO_ORGANIZATIONS, DEMO_PASSWORD, DEMO_WORK_USERS
from ..models import ROLE_GLOBAL_ADMIN
from .forms import ResetDemoForm
from .stories import provider_url, stories

bp = Blueprint("demo", __name__, url_prefix="/demo")


@bp.before_request
def demo_mode_only():
    if not current_app.config.get("DEMO_MODE"):
        abort(404)


def _can_reset() -> bool:
    return current_user.is_authenticated and current_user.has_role(ROLE_GLOBAL_ADMIN)


@bp.route("")
def guide():
    organizations = {o["partner_id"]: o["name"] for o in DEMO_ORGANIZATIONS}
    return render_template(
        "demo/guide.html", stories=stories(), password=DEMO_PASSWORD,
        work_users=[{"organization": organizations[pid], "email": email, "name": name, "roles": roles,
                     "purpose": purpose} for pid, email, name, roles, purpose in DEMO_WORK_USERS],
        provider_accounts=DEMO_ACCOUNTS, provider_url=provider_url, can_reset=_can_reset())


@bp.route("/reset", methods=["GET", "POST"])
@login_required
def reset():
    if not _can_reset():
        abort(403)
    form = ResetDemoForm()
    if form.validate_on_submit():
        admin_email = current_user.email
        services.reset_demo_data()
        # The seed re-created the demo users: stay signed in as the same (re-created) admin.
        again = services.active_work_user_by_email(admin_email)
        if again is not None:
            login_user(again)
        else:
            logout_user()
        providers = services.reset_providers()
        flash(_("The demo is back to its seeded state: links, traces, users and the clock."), "success")
        if not providers.done:
            flash(_("The identity providers were not reset (%(reason)s). Run: flask --app idp_mock "
                    "reset-demo", reason=_("no control token configured")
                    if providers.detail == "not_configured" else providers.detail), "error")
        else:
            flash(_("The identity providers are back to their demo accounts."), "success")
        return redirect(url_for("demo.guide"))
    return render_template("demo/reset.html", form=form), (400 if form.errors else 200)
