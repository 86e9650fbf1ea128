"""The authorization endpoint: sign-in, consent, then the redirect back to the client.

``prompt`` (none, login, consent, select_account) and ``max_age`` decide what is shown; a
remembered consent (``consents.py``) skips the consent page; every answer that goes back to the
client carries the RFC 9207 ``iss`` parameter."""
from __future__ import annotations

import time

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import g, make_response, render_template, request, url_for
from flask_babel import gettext as _

from ..consents import covers as consent_covers
from ..consents import remember as remember_consent
from ..errors import provider_error
from ..interop import add_issuer
from ..models import db
from ..oauth2 import get_server
from ..pages.forms import ConsentForm, SignInForm
from ..pages.sign_in import authenticate
from ..qa.faults import authorization_response
from ..qa.panel import panel_context
from ..sessions import (current_account, forget_sign_in_mark, fresh_sign_in_for,
                        mark_signed_in_for, request_fingerprint, sign_in, sign_out, signed_in_at)
from .blueprint import bp


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    server = get_server()
    return add_issuer(server, make_response(authorize_answer(server)))


def authorize_answer(server):
    account = current_account()
    try:
        grant = server.get_consent_grant(end_user=account)
        max_age = requested_max_age(grant)
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
    prompts = requested_prompts(grant)
    if request.method == "POST" and request.form.get("step") == "signin":
        signin_form = SignInForm()
        if signin_form.cancel.data:
            return server.create_authorization_response(grant_user=None, grant=grant)
        status = 200
        if signin_form.validate_on_submit():
            user, status = authenticate(signin_form)
            if user is not None:
                sign_in(user)
                mark_signed_in_for(request_fingerprint())
                # The consent form's CSRF token is the one of the session renewed at sign-in.
                return consent_or_code(server, grant, user, prompts, form_action)
        return render_signin(signin_form, form_action, client), status
    if request.method == "POST":
        consent = ConsentForm()
        if consent.validate_on_submit():
            if consent.cancel.data:
                return server.create_authorization_response(grant_user=None, grant=grant)
            if consent.switch.data:
                sign_out()
                return render_signin(SignInForm(formdata=None), form_action, client)
            if (consent.allow.data and account is not None
                    and not needs_sign_in(account, prompts, max_age)):
                remember_consent(g.issuer, account.id, client.client_id, grant.request.scope)
                db.session.commit()
                return code_response(server, grant, account)

    if account is None or needs_sign_in(account, prompts, max_age):
        if "none" in prompts:
            return server.handle_error_response(grant.request, LoginRequiredError(
                redirect_uri=grant.redirect_uri, state=grant.request.payload.state))
        return render_signin(SignInForm(formdata=None), form_action, client)
    return consent_or_code(server, grant, account, prompts, form_action)


def requested_prompts(grant) -> set[str]:
    return set((grant.request.payload.data.get("prompt") or "").split())


def requested_max_age(grant) -> int | None:
    """The ``max_age`` parameter (seconds), None when absent; a value that is not a whole
    number of seconds is an invalid request, reported to the client."""
    raw = grant.request.payload.data.get("max_age")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        raise InvalidRequestError("'max_age' must be a whole number of seconds.",
                                  redirect_uri=grant.redirect_uri,
                                  state=grant.request.payload.state)
    return int(raw)


def needs_sign_in(account, prompts: set[str], max_age: int | None) -> bool:
    """``prompt=login`` and ``max_age`` ask for a sign-in newer than the session's: one made
    on this very request (its fingerprint kept at sign-in) is."""
    if fresh_sign_in_for(request_fingerprint()):
        return False
    if "login" in prompts:
        return True
    auth_time = signed_in_at()
    return max_age is not None and (auth_time is None or time.time() - auth_time > max_age)


def consent_or_code(server, grant, account, prompts: set[str], form_action: str):
    """The consent page, unless this account already allowed this client what it asks now
    (and neither ``prompt=consent`` nor the client's "always ask" setting asks again)."""
    client = grant.client
    must_ask = (bool(prompts & {"consent", "select_account"}) or client.always_ask_consent
                or not consent_covers(g.issuer, account.id, client.client_id,
                                      grant.request.scope))
    if not must_ask:
        return code_response(server, grant, account)
    if "none" in prompts:
        return server.handle_error_response(grant.request, ConsentRequiredError(
            redirect_uri=grant.redirect_uri, state=grant.request.payload.state))
    return render_consent(client, account, form_action)


def code_response(server, grant, account):
    forget_sign_in_mark()
    return authorization_response(server, grant, account)


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


def render_signin(form, form_action, client):
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
