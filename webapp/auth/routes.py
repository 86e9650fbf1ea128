"""Work-account sign-in for Partner Center."""
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from page_catalog import gettext as _

from .. import i18n, services
from ..safe_urls import safe_next_url
from .forms import LoginForm, LogoutForm

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.profile"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.sign_in_with_password(form.email.data, form.password.data,
                                                  request.remote_addr)
        except services.SignInRefused as refused:
            flash(refused.message, "error")
            return render_template("auth/login.html", form=form), refused.status
        kept_language = i18n.language_before_sign_in()
        session.clear()  # a fresh session at sign-in: nothing from before survives
        login_user(user)
        i18n.language_after_sign_in(user, kept_language)
        return redirect(safe_next_url(request.args.get("next"), url_for("main.profile")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    form = LogoutForm()
    if form.validate_on_submit():
        lang = session.get(i18n.SESSION_KEY)
        services.record_audit(services.AUDIT_SIGN_OUT, organization_id=current_user.organization_id,
                              actor=current_user._get_current_object(), target=current_user.email)
        services.end_sessions(current_user)  # server-side: copies of this cookie stop working
        services.db.session.commit()
        logout_user()
        session.clear()
        i18n.language_after_sign_out(lang)
        flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))
