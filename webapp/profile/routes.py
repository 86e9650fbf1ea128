"""My Learn profile: the page where a work user sees and manages their linked accounts."""
import math
from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user, login_required

from .. import i18n
from ..linking.routes import finish_provider_signout
from ..models import LEARN, PARTNER_UNIVERSITY
from ..reports.credit import user_achievements
from ..reports.refresh import RefreshError, changes_text, learner_refresh_wait, refresh_user
from ..safe_urls import safe_next_url
from ..traces.recorder import latest_trace
from .forms import LanguageForm, RefreshAchievementsForm
from .service import profile_sections

# Where the article sends people ("How to get support"): linking problems that persist after the
# next available date, and questions about the certification profile (MCID) itself.
SUPPORT_URL = "https://partner.microsoft.com/support"
CERTIFICATION_SUPPORT_URL = "https://aka.ms/mcpforum"

bp = Blueprint("profile", __name__)


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("profile.profile"))
    return redirect(url_for("auth.login"))


@bp.route("/profile")
@login_required
def profile():
    if request.args.get("state"):
        # The providers' post_logout_redirect_uri (RP-initiated logout).
        return finish_provider_signout(request.args["state"])
    sections = profile_sections(current_user)
    return render_template(
        "profile/profile.html",
        university=sections[PARTNER_UNIVERSITY],
        learn=sections[LEARN],
        latest_trace=latest_trace(current_user),
        achievements=user_achievements(current_user),
        support_url=SUPPORT_URL, certification_support_url=CERTIFICATION_SUPPORT_URL,
        refresh_achievements_form=RefreshAchievementsForm(formdata=None),
    )


@bp.route("/profile/achievements/refresh", methods=["POST"])
@login_required
def refresh_achievements():
    """The learner reads their own transcripts now (at most once per interval)."""
    back = url_for("profile.profile", _anchor="achievements")
    if not RefreshAchievementsForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(back)
    interval = timedelta(seconds=current_app.config["LEARNER_REFRESH_INTERVAL_SECONDS"])
    wait = learner_refresh_wait(current_user, interval)
    if wait:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        flash(ngettext("You refreshed your achievements a moment ago. You can refresh them again "
                       "in %(num)d minute.", "You refreshed your achievements a moment ago. You can "
                       "refresh them again in %(num)d minutes.", minutes), "error")
        return redirect(back)
    try:
        job = refresh_user(current_user)
    except RefreshError as exc:
        flash(exc.message, "error")
        return redirect(back)
    if job.message:
        for line in job.message.split("\n"):
            flash(line, "error")
    flash(_("Your achievements were refreshed: %(changes)s.",
            changes=changes_text(job.added, job.updated, job.removed)), "success")
    return redirect(back)


@bp.route("/language", methods=["POST"])
def set_language():
    """The language switcher: this session's pages and, signed in, the saved preference."""
    form = LanguageForm()
    back = safe_next_url(form.next.data, url_for("profile.index"))
    lang = i18n.supported_language(form.lang.data)
    if not form.validate_on_submit() or lang is None:
        flash(_("This language is not available."), "error")
        return redirect(back)
    i18n.choose_language(lang)
    return redirect(back)
