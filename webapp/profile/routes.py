"""My Learn profile: the page where a work user sees and manages their linked accounts."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import i18n
from ..linking.routes import finish_provider_signout
from ..models import LEARN, PARTNER_UNIVERSITY
from ..reports.credit import user_achievements
from ..safe_urls import safe_next_url
from ..traces.recorder import latest_trace
from .forms import LanguageForm
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
    )


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
