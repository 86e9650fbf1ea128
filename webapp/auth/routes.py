"""Work-account sign-in for Partner Center."""
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from .. import i18n
from ..safe_urls import safe_next_url
from .forms import LoginForm, LogoutForm
from .service import SignInRefused, sign_in_with_password, sign_out

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("profile.profile"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = sign_in_with_password(form.email.data, form.password.data,
                                                  request.remote_addr)
        except SignInRefused as refused:
            flash(refused.message, "error")
            return render_template("auth/login.html", form=form), refused.status
        kept_language = i18n.language_before_sign_in()
        session.clear()  # a fresh session at sign-in: nothing from before survives
        login_user(user)
        i18n.language_after_sign_in(user, kept_language)
        return redirect(safe_next_url(request.args.get("next"), url_for("profile.profile")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    form = LogoutForm()
    if form.validate_on_submit():
        lang = session.get(i18n.SESSION_KEY)
        sign_out(current_user._get_current_object(), request.remote_addr)
        logout_user()
        session.clear()
        i18n.language_after_sign_out(lang)
        flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))
