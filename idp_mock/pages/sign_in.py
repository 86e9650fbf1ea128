"""Standalone sign-in, sign-up and sign-out of a provider (the authorize endpoint signs in too)."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..models import Account
from ..services import AccountError, create_account
from ..sessions import safe_next, sign_in, sign_out
from ..throttle import SignInRefused, check_sign_in
from .blueprint import bp
from .forms import SignInForm, SignOutForm, SignUpForm


def authenticate(form: SignInForm) -> tuple[Account | None, int]:
    """The account the form signs in, or None with the refusal on the form; and the page's
    status (429 while throttled)."""
    try:
        return check_sign_in(g.issuer, form.email.data, form.password.data,
                             request.remote_addr), 200
    except SignInRefused as refused:
        form.password.errors.append(refused.message)
        return None, refused.status


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    next_url = safe_next(request.args.get("next")) or url_for("pages.account")
    form = SignInForm()
    if form.cancel.data:
        return redirect(url_for("pages.home"))
    status = 200
    if form.validate_on_submit():
        user, status = authenticate(form)
        if user is not None:
            sign_in(user)
            return redirect(next_url)
    return render_template(
        "idp/signin.html",
        form=form,
        form_action=url_for("pages.signin", next=next_url),
        client=None,
        signup_url=url_for("pages.signup", next=next_url),
    ), status


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    next_url = safe_next(request.args.get("next"))
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            account = create_account(
                g.issuer,
                form.email.data,
                form.password.data,
                form.display_name.data.strip(),
                kind="personal",
            )
        except AccountError:
            form.email.errors.append(_("An account with this email already exists."))
        else:
            sign_in(account)
            flash(_("Your account has been created."), "success")
            return redirect(next_url or url_for("pages.account"))
    return render_template(
        "idp/signup.html",
        form=form,
        next_url=next_url,
        signin_url=next_url or url_for("pages.signin"),
    )


@bp.post("/account/signout")
def account_signout():
    form = SignOutForm()
    if form.validate_on_submit():
        sign_out()
    return render_template("idp/signed_out.html")
