"""Administration: a Global admin or Account admin manages the work users of their own
organization; the installation operator moves the simulated clock (demo mode only) and
refreshes every organization's data.

No page here links or removes a learning account: only the work user does that, on
My Learn profile.
"""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_date, gettext as _
from flask_login import current_user, login_required

from .. import services, simulated_clock, validation
from ..clock import clock_is_simulated, now, real_now, today
from ..models import ROLE_GLOBAL_ADMIN
from ..template_helpers import role_label
from .forms import (AdvanceClockForm, CreateUserForm, DeleteUserForm, RefreshAllForm, ResetClockForm,
                    SetClockForm)

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.app_context_processor
def inject_operator():
    return {"is_operator": services.is_operator}


def forbidden(message: str | None = None):
    return render_template("errors/error.html", code=403, error=None, message=message), 403


@bp.before_request
@login_required
def require_sign_in():
    return None


def _user_admin_only():
    if not services.can_administer_users(current_user):
        return forbidden(_("Only a Global admin or an Account admin of your organization can "
                           "manage work users."))
    return None


@bp.route("/users")
def users():
    if (refused := _user_admin_only()) is not None:
        return refused
    page = services.organization_users(current_user, request.args.get("page", 1, type=int) or 1)
    return render_template("admin/users.html", page=page, users=page.items)


@bp.route("/users/new", methods=["GET", "POST"])
def create_user():
    if (refused := _user_admin_only()) is not None:
        return refused
    form = CreateUserForm()
    form.roles.choices = [(r, role_label(r)) for r in services.assignable_roles(current_user)]
    status = 200
    if form.validate_on_submit():
        try:
            user = services.add_work_user(current_user, form.email.data, form.display_name.data,
                                          form.password.data, form.roles.data or [])
        except validation.ValidationError as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
            status = 422
        else:
            flash(_("Work user %(email)s created. Give them their initial password; they can then "
                    "sign in and link their learning accounts themselves.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    elif form.is_submitted():
        status = 422
    return render_template("admin/create_user.html", form=form), status


def _organization_user_or_404(user_id: int):
    user = services.organization_user(current_user, user_id)
    if user is None:  # unknown, or another organization's: the same answer for both
        abort(404)
    return user


@bp.route("/users/<int:user_id>/delete", methods=["GET", "POST"])
def delete_user(user_id):
    """GET shows the confirmation step; the POST from that page deletes."""
    if (refused := _user_admin_only()) is not None:
        return refused
    user = _organization_user_or_404(user_id)
    form = DeleteUserForm()
    if form.validate_on_submit():
        try:
            services.delete_work_user(current_user, user)
        except validation.ValidationError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Work user %(email)s deleted. They can no longer sign in. Their exams leave the "
                    "Skills report at its next data refresh, around the 10th of next month.",
                    email=user.email), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/delete_user.html", user=user, form=form,
                           refusal=_deletion_refusal(user))


def _deletion_refusal(user) -> str | None:
    """Why this deletion would be refused, to show on the confirmation step instead of a button."""
    if user.id == current_user.id:
        return _("You cannot delete your own work account.")
    if user.deleted_at is not None:
        return _("The work account %(email)s is already deleted.", email=user.email)
    if user.has_role(ROLE_GLOBAL_ADMIN) and not current_user.has_role(ROLE_GLOBAL_ADMIN):
        return _("Only a Global admin can delete a Global admin.")
    return None


# --------------------------------------------------------------------------- simulated clock

def _operator_only():
    if not services.is_operator(current_user):
        return forbidden(_("Only the installation operator can do this: it changes the whole "
                           "installation, every organization included."))
    return None


def _clock_admin_only():
    if not current_app.config.get("DEMO_MODE"):
        abort(404)
    return _operator_only()


def _clock_page(set_form=None, advance_form=None, status=200):
    return render_template(
        "admin/clock.html",
        now=now(), real_now=real_now(), simulated=clock_is_simulated(),
        set_form=set_form or SetClockForm(formdata=None),
        advance_form=advance_form or AdvanceClockForm(formdata=None),
        reset_form=ResetClockForm(formdata=None), refresh_all_form=RefreshAllForm(formdata=None),
    ), status


@bp.route("/clock")
def clock():
    if (refused := _clock_admin_only()) is not None:
        return refused
    return _clock_page()


@bp.route("/clock/set", methods=["POST"])
def clock_set():
    if (refused := _clock_admin_only()) is not None:
        return refused
    form = SetClockForm()
    return _move_clock(form, form.date, simulated_clock.set_clock) or _clock_page(set_form=form, status=422)


@bp.route("/clock/advance", methods=["POST"])
def clock_advance():
    if (refused := _clock_admin_only()) is not None:
        return refused
    form = AdvanceClockForm()
    return _move_clock(form, form.days, simulated_clock.advance_clock) or _clock_page(advance_form=form, status=422)


@bp.route("/clock/reset", methods=["POST"])
def clock_reset():
    if (refused := _clock_admin_only()) is not None:
        return refused
    if ResetClockForm().validate_on_submit():
        simulated_clock.reset_clock(current_user, request.remote_addr)
        flash(_("The clock is back to real time."), "success")
    return redirect(url_for("admin.clock"))


def _move_clock(form, field, move):
    """Apply a valid clock form and redirect; None when the form must be shown again with errors."""
    if not form.validate_on_submit():
        return None
    try:
        move(field.data, current_user, request.remote_addr)
    except validation.ValidationError as exc:
        field.errors = [*field.errors, exc.message]
        return None
    flash(_("The simulated date is now %(date)s.", date=_long_date(today())), "success")
    return redirect(url_for("admin.clock"))


def _long_date(value):
    return format_date(value, format="long")


# --------------------------------------------------------------------------- every organization's data

@bp.route("/refresh-all", methods=["POST"])
def refresh_all():
    """The operator's data refresh of every organization (an admin's refreshes only their own)."""
    if (refused := _operator_only()) is not None:
        return refused
    if not RefreshAllForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("admin.operator"))
    try:
        result = services.refresh_transcripts(organization_id=None)
    except services.RefreshError as exc:
        flash(exc.message, "error")
    else:
        # Counts only: the lines naming users stay with each organization's own refresh.
        flash(result.summary(), "success")
    return redirect(url_for("admin.operator"))


@bp.route("/operator")
def operator():
    """The operator's page: the clock (in demo mode) and the refresh of every organization."""
    if (refused := _operator_only()) is not None:
        return refused
    if current_app.config.get("DEMO_MODE"):
        return redirect(url_for("admin.clock"))
    return render_template("admin/operator.html", refresh_all_form=RefreshAllForm(formdata=None))
