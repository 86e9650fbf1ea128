"""The authorization endpoint: sign-in, consent, then the redirect back to the client."""
from __future__ import annotations

import re

from authlib.oauth2 import OAuth2Error
from flask import g, render_template, request, url_for
from flask_babel import gettext as _

from ..errors import provider_error
from ..oauth2 import get_server
from ..pages.forms import ConsentForm, SignInForm
from ..pages.sign_in import authenticate
from ..qa.faults import authorization_response
from ..qa.panel import panel_context
from ..sessions import current_account, sign_in, sign_out
from .blueprint import bp


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    server = get_server()
    account = current_account()
    try:
        grant = server.get_consent_grant(end_user=account)
    except OAuth2Error as error:
        if error.redirect_uri:
            # The client and redirect_uri are valid: report to the client.
            return server.handle_error_response(None, error)
        # Unknown client or unregistered redirect_uri: never redirect.
        return provider_error(
            _("This sign-in request is not valid"), describe_authorize_error(error)
        )

    client = grant.client
    form_action = authorize_path()
    if request.method == "POST" and request.form.get("step") == "signin":
        signin_form = SignInForm()
        if signin_form.cancel.data:
            return server.create_authorization_response(grant_user=None, grant=grant)
        status = 200
        if signin_form.validate_on_submit():
            user, status = authenticate(signin_form)
            if user is not None:
                sign_in(user)
                # The consent form's CSRF token is the one of the session renewed at sign-in.
                return render_consent(client, user, form_action)
        return render_signin(signin_form, form_action, client), status
    if request.method == "POST":
        consent = ConsentForm()
        if consent.validate_on_submit():
            if consent.cancel.data:
                return server.create_authorization_response(grant_user=None, grant=grant)
            if consent.switch.data:
                sign_out()
                return render_signin(SignInForm(formdata=None), form_action, client)
            if consent.allow.data and account is not None:
                return authorization_response(server, grant, account)

    if account is None or getattr(grant, "prompt", None) == "login":
        return render_signin(SignInForm(formdata=None), form_action, client)
    return render_consent(client, account, form_action)


def authorize_path() -> str:
    """The current authorize request as a relative path (query kept)."""
    qs = request.query_string.decode("utf-8", "replace")
    return url_for("provider.authorize") + (f"?{qs}" if qs else "")


def describe_authorize_error(error: OAuth2Error) -> str:
    """The page's explanation; Authlib's own description (English) stays as technical detail."""
    if error.error == "invalid_client":
        return _(
            "The application that sent you here is not registered with this provider (%(error)s).",
            error=error.error,
        )
    return _(
        "The application that sent you here made a sign-in request this provider cannot accept "
        "(%(error)s: %(detail)s).",
        error=error.error,
        detail=error.description or "",
    )


#: Longest login_hint used (an email address); a longer or malformed one is ignored: it is a hint.
MAX_LOGIN_HINT = 254
LOGIN_HINT_RE = re.compile(r"^[^@\s<>\"'&]+@[^@\s<>\"'&]+\.[^@\s<>\"'&]+$")


def login_hint() -> str:
    """The request's ``login_hint`` (OIDC Core 3.1.2.1) when it is an email address, else ""."""
    hint = (request.args.get("login_hint") or "").strip()
    if len(hint) > MAX_LOGIN_HINT or not LOGIN_HINT_RE.match(hint):
        return ""
    return hint.lower()


def render_signin(form, form_action, client):
    if not form.email.data:  # a first display: pre-filled with the client's hint (both issuers)
        form.email.data = login_hint()
    return render_template(
        "idp/signin.html",
        form=form,
        form_action=form_action,
        client=client,
        signup_url=url_for("pages.signup", next=form_action),
        qa_panel=panel_context(client, form_action),
    )


def render_consent(client, account, form_action):
    return render_template(
        "idp/consent.html",
        form=ConsentForm(formdata=None),
        form_action=form_action,
        client=client,
        account=account,
        show_mcid=g.issuer == "learn",
        qa_panel=panel_context(client, form_action),
    )
