"""My Learn profile: the page where a work user sees and manages their linked accounts."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from page_catalog import gettext as _

from .. import i18n, services
from ..models import LEARN, PARTNER_UNIVERSITY
from ..safe_urls import safe_next_url
from .forms import LanguageForm

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("main.profile"))
    return redirect(url_for("auth.login"))


@bp.route("/profile")
@login_required
def profile():
    if request.args.get("state"):
        # The providers' post_logout_redirect_uri (RP-initiated logout).
        from ..linking.routes import finish_provider_signout

        return finish_provider_signout(request.args["state"])
    sections = services.profile_sections(current_user)
    return render_template(
        "main/profile.html",
        university=sections[PARTNER_UNIVERSITY],
        learn=sections[LEARN],
        latest_trace=services.latest_trace(current_user),
        achievements=services.user_achievements(current_user),
    )


@bp.route("/language", methods=["POST"])
def set_language():
    """The language switcher: this session's pages and, signed in, the saved preference."""
    form = LanguageForm()
    back = safe_next_url(form.next.data, url_for("main.index"))
    lang = i18n.supported_language(form.lang.data)
    if not form.validate_on_submit() or lang is None:
        flash(_("This language is not available."), "error")
        return redirect(back)
    i18n.choose_language(lang)
    return redirect(back)
