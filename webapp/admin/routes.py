"""Administration: a Global admin or Account admin manages the work users of their own
organization; the installation operator moves the simulated clock (demo mode only) and
refreshes every organization's data.

No page here links or removes a learning account: only the work user does that, on
My Learn profile.
"""
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, ngettext
from sqlalchemy import select
from flask_login import current_user, login_required

from .. import simulated_clock
from ..clock import clock_is_simulated, now, real_now, today
from ..permissions import OPERATOR_REFUSED, USER_ADMIN_REFUSED, allowed, can_administer_users, is_operator
from ..extensions import db
from ..models import Organization
from ..reports.jobs import request_refresh
from ..template_helpers import long_date, role_label
from ..validation import ValidationError
from . import follow_up, service
from .forms import (AdvanceClockForm, CreateUserForm, DeleteUserForm, RefreshAllForm, ResetClockForm,
                    SetClockForm)

bp = Blueprint("admin", __name__, url_prefix="/admin")

user_admin_only = allowed(can_administer_users, USER_ADMIN_REFUSED)
operator_only = allowed(is_operator, OPERATOR_REFUSED)


@bp.before_request
@login_required
def require_sign_in():
    return None


@bp.route("/users")
@user_admin_only
def users():
    status = request.args.get("status") or None
    if status is not None and status not in follow_up.STATUSES:
        return render_template("errors/error.html", code=400, error=None, message=_(
            "Unknown status filter. Choose one of the filters on the users page.")), 400
    page = service.organization_users(current_user, request.args.get("page", 1, type=int) or 1,
                                      status=status)
    providers = follow_up.linked_providers([u.id for u in page.items])
    statuses = {u.id: follow_up.user_status(u, providers.get(u.id, [])) for u in page.items}
    # Only the actions this admin may take are offered (an Account admin deletes no Global admin).
    deletable = {u.id for u in page.items if service.deletion_refusal(current_user, u) is None}
    return render_template("admin/users.html", page=page, users=page.items, status=status,
                           statuses=statuses, providers=providers, follow_up=follow_up,
                           deletable=deletable)


@bp.route("/users/<int:user_id>/reminder")
@user_admin_only
def reminder(user_id):
    """A ready-to-send reminder for a user who has not linked yet, to copy into the admin's mail."""
    user = _organization_user_or_404(user_id)
    if user.deleted_at is not None:
        abort(404)
    text = follow_up.reminder_text(user, user.organization, url_for("auth.login", _external=True),
                                   current_user)
    return render_template("admin/reminder.html", user=user, text=text)


@bp.route("/users/new", methods=["GET", "POST"])
@user_admin_only
def create_user():
    form = CreateUserForm()
    form.roles.choices = [(r, role_label(r)) for r in service.assignable_roles(current_user)]
    status = 200
    if form.validate_on_submit():
        try:
            user = service.add_work_user(current_user, form.email.data, form.display_name.data,
                                         form.password.data, form.roles.data or [],
                                         address=request.remote_addr)
        except ValidationError as exc:
            for problem in getattr(exc, "errors", [exc]):
                getattr(form, problem.field or "email").errors.append(problem.message)
            status = 422
        else:
            flash(_("Work user %(email)s created. Give them their initial password; they can then "
                    "sign in and link their learning accounts themselves.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    elif form.is_submitted():
        status = 422
    return render_template("admin/create_user.html", form=form), status


def _organization_user_or_404(user_id: int):
    user = service.organization_user(current_user, user_id)
    if user is None:  # unknown, or another organization's: the same answer for both
        abort(404)
    return user


@bp.route("/users/<int:user_id>/delete", methods=["GET", "POST"])
@user_admin_only
def delete_user(user_id):
    """GET shows the confirmation step; the POST from that page deletes."""
    user = _organization_user_or_404(user_id)
    form = DeleteUserForm()
    if form.validate_on_submit():
        try:
            service.delete_work_user(current_user, user, address=request.remote_addr)
        except ValidationError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Work user %(email)s deleted. They can no longer sign in. Their exams leave the "
                    "Skills report at its next data refresh, around the 10th of next month.",
                    email=user.email), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/delete_user.html", user=user, form=form,
                           refusal=service.deletion_refusal(current_user, user))


# --------------------------------------------------------------------------- simulated clock

def demo_mode_only(view):
    """The simulated clock exists in demo mode only: elsewhere its pages are not found."""
    @wraps(view)
    def checked(*args, **kwargs):
        if not current_app.config.get("DEMO_MODE"):
            abort(404)
        return view(*args, **kwargs)
    return checked


def _clock_page(set_form=None, advance_form=None, status=200):
    return render_template(
        "admin/clock.html",
        now=now(), real_now=real_now(), simulated=clock_is_simulated(),
        set_form=set_form or SetClockForm(formdata=None),
        advance_form=advance_form or AdvanceClockForm(formdata=None),
        reset_form=ResetClockForm(formdata=None), refresh_all_form=RefreshAllForm(formdata=None),
    ), status


@bp.route("/clock")
@demo_mode_only
@operator_only
def clock():
    return _clock_page()


@bp.route("/clock/set", methods=["POST"])
@demo_mode_only
@operator_only
def clock_set():
    form = SetClockForm()
    return _move_clock(form, form.date, simulated_clock.set_clock) or _clock_page(set_form=form, status=422)


@bp.route("/clock/advance", methods=["POST"])
@demo_mode_only
@operator_only
def clock_advance():
    form = AdvanceClockForm()
    return _move_clock(form, form.days, simulated_clock.advance_clock) or _clock_page(advance_form=form, status=422)


@bp.route("/clock/reset", methods=["POST"])
@demo_mode_only
@operator_only
def clock_reset():
    if ResetClockForm().validate_on_submit():
        providers = simulated_clock.reset_clock(current_user, request.remote_addr)
        flash(_("The clock is back to real time."), "success")
        _flash_providers_clock(providers)
    return redirect(url_for("admin.clock"))


def _move_clock(form, field, move):
    """Apply a valid clock form and redirect; None when the form must be shown again with errors."""
    if not form.validate_on_submit():
        return None
    try:
        providers = move(field.data, current_user, request.remote_addr)
    except ValidationError as exc:
        field.errors = [*field.errors, exc.message]
        return None
    flash(_("The simulated date is now %(date)s.", date=long_date(today())), "success")
    _flash_providers_clock(providers)
    return redirect(url_for("admin.clock"))


def _flash_providers_clock(providers) -> None:
    """Say when the providers keep dating completions by another day than Partner Center."""
    if providers.done:
        return
    reason = (_("no control token configured") if providers.detail == "not_configured"
              else providers.detail)
    flash(_("The identity providers were not told the new date (%(reason)s): completions there "
            "keep their own date.", reason=reason), "error")


# --------------------------------------------------------------------------- every organization's data

@bp.route("/refresh-all", methods=["POST"])
@operator_only
def refresh_all():
    """The operator's data refresh of every organization (an admin's refreshes only their own)."""
    if not RefreshAllForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("admin.operator"))
    # One queued refresh per organization, run by the worker like an admin's own.
    queued = [request_refresh(org_id, "operator")[1] for org_id in
              db.session.scalars(select(Organization.id).order_by(Organization.id))]
    flash(ngettext("Data refresh queued for %(num)d organization; %(running)d already running.",
                   "Data refresh queued for %(num)d organizations; %(running)d already running.",
                   queued.count(True), running=queued.count(False)), "success")
    return redirect(url_for("admin.operator"))


@bp.route("/operator")
@operator_only
def operator():
    """The operator's page: the clock (in demo mode) and the refresh of every organization."""
    if current_app.config.get("DEMO_MODE"):
        return redirect(url_for("admin.clock"))
    return render_template("admin/operator.html", refresh_all_form=RefreshAllForm(formdata=None))
