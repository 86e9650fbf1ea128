"""HTTP routes. The ``idp`` blueprint is mounted under ``/<issuer>``."""

from __future__ import annotations

import hmac
import json
import time
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_wtf.csrf import CSRFError
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from page_catalog import gettext as _
from page_catalog import page_locale

from . import content_security_policy
from . import scenarios
from .config import ISSUERS
from .config import SCOPES_SUPPORTED
from .forms import AttachMsaForm
from .forms import CertificationProfileForm
from .forms import CompleteItemForm
from .forms import SignInForm
from .forms import SignOutForm
from .forms import SignUpForm
from .fixed_markup import rendered_once
from .keys import public_jwks_body
from .models import Account
from .models import db
from .oauth2 import get_server
from .oauth2 import issuer_url
from .oauth2 import require_oauth
from .oauth2 import session_key
from .qa import panel_context
from .services import CATALOG
from .services import AccountError
from .services import add_transcript_item
from .services import create_account
from .services import find_account_by_subject
from .services import generate_mcid
from .throttle import SignInRefused
from .throttle import check_sign_in

bp = Blueprint("idp", __name__, url_prefix="/<issuer>")
root = Blueprint("idp_root", __name__)

# POST endpoints without a CSRF token (CSRFProtect covers every other one):
# the token endpoint authenticates the client (secret + PKCE), userinfo takes a bearer token,
# and the end-session endpoint is called by relying parties per OpenID RP-Initiated Logout
# (at worst it signs the person out of the provider).
CSRF_EXEMPT_ENDPOINTS = (
    "idp_mock.routes.issue_token",
    "idp_mock.routes.userinfo",
    "idp_mock.routes.logout",
)


# --------------------------------------------------------------------------
# Issuer in the URL (the "language code in URL" pattern)
# --------------------------------------------------------------------------


@bp.url_defaults
def add_issuer(endpoint, values):
    if "issuer" in values or not g.get("issuer"):
        return
    if current_app.url_map.is_endpoint_expecting(endpoint, "issuer"):
        values["issuer"] = g.issuer


@bp.url_value_preprocessor
def pull_issuer(endpoint, values):
    issuer = (values or {}).pop("issuer", None)
    if issuer not in ISSUERS:
        abort(404)
    g.issuer = issuer
    g.issuer_info = ISSUERS[issuer]


# --------------------------------------------------------------------------
# Provider session helpers
# --------------------------------------------------------------------------


# Built once: the signed-in account is read on every authorize request.
# Without its profile: most requests of a signed-in account (Allow, the token's code) do not
# show it; the consent page loads it when it shows the name.
_ACCOUNT_BY_ID = db.select(Account).where(Account.id == db.bindparam("id"))


def current_account() -> Account | None:
    data = session.get(session_key(g.issuer))
    if not data:
        return None
    account_id, nonce = data.get("id"), data.get("nonce")
    account = (db.session.scalar(_ACCOUNT_BY_ID, {"id": account_id})
               if isinstance(account_id, int) and isinstance(nonce, str) else None)
    # The id alone is not enough: a deleted account's id may name a newer account now.
    if (account is None or account.issuer != g.issuer
            or not hmac.compare_digest(account.session_nonce, nonce)):
        session.pop(session_key(g.issuer), None)
        return None
    return account


def sign_in(account: Account) -> None:
    """A fresh session at sign-in: nothing set before it (CSRF token, flashes) survives.

    The other issuer's sign-in and the language choice are kept: the two providers only
    share a cookie because they are served by one app. So is the Test scenario panel id: a
    scenario armed on the sign-in page applies to this browser's flow once signed in.
    """
    from . import LANG_SESSION_KEY

    kept = {k: v for k, v in session.items()
            if (k.startswith("account:") and k != session_key(g.issuer))
            or k in (LANG_SESSION_KEY, scenarios.PANEL_SESSION_KEY)}
    session.clear()
    session.update(kept)
    g.pop("csrf_token", None)  # Flask-WTF caches the token of the old session per request
    session[session_key(g.issuer)] = {"id": account.id, "nonce": account.session_nonce,
                                      "auth_time": int(time.time())}


def sign_out() -> None:
    session.pop(session_key(g.issuer), None)


def safe_next(target: str | None) -> str | None:
    """Only relative paths on this provider (under /<issuer>/) are allowed."""
    if not target:
        return None
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in target):
        # Control characters (CR/LF would split the Location header; browsers drop tab and
        # newlines from URLs, which changes what was checked): never a safe target.
        return None
    target = target.replace("\\", "/")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    if not parts.path.startswith(f"/{g.issuer}/"):
        return None
    return target


def authorize_path() -> str:
    """The current authorize request as a relative path (query kept)."""
    qs = request.query_string.decode("utf-8", "replace")
    return url_for("idp.authorize") + (f"?{qs}" if qs else "")


def check_csrf() -> bool:
    if g.get("csrf_valid"):
        return True  # CSRFProtect checked this request's token already (as FlaskForm trusts)
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True


def authenticate(form: SignInForm) -> tuple[Account | None, int]:
    """The account the form signs in, or None with the refusal on the form; and the page's
    status (429 while throttled)."""
    try:
        return check_sign_in(g.issuer, form.email.data, form.password.data,
                             request.remote_addr), 200
    except SignInRefused as refused:
        form.password.errors.append(refused.message)
        return None, refused.status


def provider_error(title, description, status=400):
    return (
        render_template("idp/error.html", title=title, description=description),
        status,
    )


# --------------------------------------------------------------------------
# Discovery and keys
# --------------------------------------------------------------------------


# Clients may cache discovery for an hour and the JWKS for five minutes; a relying party that
# meets an unknown kid refetches the JWKS at once, so a rotation never waits for the expiry.
DISCOVERY_MAX_AGE = 3600
JWKS_MAX_AGE = 300


def discovery_document(issuer: str) -> dict:
    base = issuer_url(issuer)
    return {
        "issuer": base,
        "authorization_endpoint": base + "/authorize",
        "token_endpoint": base + "/token",
        "userinfo_endpoint": base + "/userinfo",
        "jwks_uri": base + "/jwks.json",
        "end_session_endpoint": base + "/logout",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
            "name", "email", "email_verified", "account_type",
        ]
        + (["mcid"] if issuer == "learn" else []),
        "service_documentation": base + "/",
    }


def cached_json(body: bytes, max_age: int):
    response = current_app.response_class(body, mimetype="application/json")
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    return response


@bp.get("/.well-known/openid-configuration")
def discovery():
    # The document depends on configuration only: serialized once per process and issuer.
    cache = current_app.extensions.setdefault("idp_discovery_bodies", {})
    key = (g.issuer, current_app.config["IDP_PUBLIC_URL"])
    if key not in cache:
        cache[key] = json.dumps(discovery_document(g.issuer)).encode()
    return cached_json(cache[key], DISCOVERY_MAX_AGE)


@bp.get("/jwks.json")
def jwks():
    return cached_json(public_jwks_body(g.issuer), JWKS_MAX_AGE)


# --------------------------------------------------------------------------
# Authorization endpoint
# --------------------------------------------------------------------------


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
    step = request.form.get("step")

    if request.method == "POST":
        if not check_csrf():
            return provider_error(
                _("Your session expired"),
                _("Please go back to the application and try again."),
            )
        if "cancel" in request.form:
            return server.create_authorization_response(grant_user=None, grant=grant)
        # Allowing needs no form object nor page address: the redirect carries the code.
        if step == "consent" and account is not None and "allow" in request.form:
            # The redirect's policy header reads the clients now, in this request's open
            # transaction: the code's commit ends it, and reading later would open another.
            content_security_policy()
            return scenarios.authorization_response(server, grant, account)

    form_action = authorize_path()
    if request.method == "POST":
        if step == "signin":
            signin_form = SignInForm()
            status = 200
            if signin_form.validate_on_submit():
                user, status = authenticate(signin_form)
                if user is not None:
                    sign_in(user)
                    # The page's CSRF token is the one of the session renewed at sign-in.
                    return render_consent(client, user, form_action)
            return render_signin(signin_form, form_action, client), status
        if step == "switch":
            sign_out()
            return render_signin(SignInForm(formdata=None), form_action, client)

    if account is None or getattr(grant, "prompt", None) == "login":
        return render_signin(SignInForm(formdata=None), form_action, client)
    return render_consent(client, account, form_action)


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


def signin_fields(form: SignInForm):
    """An empty sign-in form's fields, rendered once per language; None for a form that shows
    what was typed or an error (rendered with the page)."""
    if form.errors or form.email.data:
        return None
    return rendered_once(("idp/_signin_fields.html", str(page_locale())), lambda: render_template(
        "idp/_signin_fields.html", form=SignInForm(formdata=None, meta={"csrf": False})))


def render_signin(form, form_action, client=None):
    signup_url = url_for("idp.signup", next=form_action)
    return render_template(
        "idp/signin.html",
        form=form,
        fields=signin_fields(form),
        form_action=form_action,
        client=client,
        signup_url=signup_url,
        qa_panel=panel_context(client, form_action),
    )


def render_consent(client, account, form_action):
    return render_template(
        "idp/consent.html",
        form_action=form_action,
        client=client,
        account=account,
        show_mcid=g.issuer == "learn",
        qa_panel=panel_context(client, form_action),
    )


# --------------------------------------------------------------------------
# Standalone sign-in / sign-up / sign-out
# --------------------------------------------------------------------------


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    next_url = safe_next(request.args.get("next")) or url_for("idp.account")
    form = SignInForm()
    form_action = url_for("idp.signin", next=next_url)
    if request.method == "POST" and "cancel" in request.form:
        return redirect(url_for("idp.home"))
    status = 200
    if form.validate_on_submit():
        user, status = authenticate(form)
        if user is not None:
            sign_in(user)
            return redirect(next_url)
    return render_template(
        "idp/signin.html",
        form=form,
        fields=signin_fields(form),
        form_action=form_action,
        client=None,
        signup_url=url_for("idp.signup", next=next_url),
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
            return redirect(next_url or url_for("idp.account"))
    return render_template(
        "idp/signup.html",
        form=form,
        next_url=next_url,
        signin_url=next_url or url_for("idp.signin"),
    )


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    server = get_server()
    try:
        end_request = server.validate_endpoint_request("end_session")
    except OAuth2Error:
        end_request = None
    if end_request is None:
        sign_out()
        return render_template("idp/signed_out.html")
    response = server.create_endpoint_response("end_session", end_request)
    if response is not None:
        return response
    return render_template("idp/signed_out.html")


# --------------------------------------------------------------------------
# Token, userinfo, transcript API
# --------------------------------------------------------------------------


@bp.post("/token")
def issue_token():
    response = scenarios.token_response(get_server())
    # An issued token and its code's deletion (flushed by the grant) are committed here, after
    # the id_token is signed: one transaction for the whole exchange.
    db.session.commit()
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    return get_server().create_endpoint_response("userinfo")


@bp.get("/api/transcript")
@require_oauth("transcript.read")
def api_transcript():
    from authlib.integrations.flask_oauth2 import current_token

    sub = request.args.get("sub", "")
    account = find_account_by_subject(g.issuer, sub) if sub else None
    if current_token.user_id is not None and (
        account is None or current_token.user_id != account.id
    ):
        return jsonify({"error": "access_denied"}), 403
    if account is None:
        return jsonify({"error": "not_found", "error_description": "Unknown sub"}), 404
    items = [item.to_dict() for item in account.profile.transcript_items]
    payload = {"sub": account.subject, "items": items}
    if g.issuer == "learn":
        payload["mcid"] = account.profile.mcid
    return jsonify(payload)


# --------------------------------------------------------------------------
# Account pages
# --------------------------------------------------------------------------


def require_account() -> Account:
    account = current_account()
    if account is None:
        abort(redirect(url_for("idp.signin", next=request.full_path.rstrip("?"))))
    return account


def learn_only():
    if g.issuer != "learn":
        abort(404)


@bp.get("/")
def home():
    return render_template("idp/home.html", account=current_account())


@bp.get("/account")
def account():
    acct = require_account()
    form = CompleteItemForm(formdata=None)
    form.item.choices = catalog_choices()
    return render_template(
        "idp/account.html",
        account=acct,
        profile=acct.profile,
        complete_form=form,
        signout_form=SignOutForm(formdata=None),
    )


def catalog_choices():
    return [(key, f"{key} — {item['title']}") for key, item in CATALOG.items()]


@bp.post("/account/transcript")
def account_transcript():
    acct = require_account()
    form = CompleteItemForm()
    form.item.choices = catalog_choices()
    if form.validate_on_submit():
        entry = CATALOG[form.item.data]
        add_transcript_item(
            acct.profile,
            entry["kind"],
            entry["title"],
            code=entry["code"],
            level=entry["level"],
        )
        flash(_("Completed: %(title)s", title=entry["title"]), "success")
    else:
        flash(_("Please choose an item from the catalog."), "error")
    return redirect(url_for("idp.account"))


@bp.route("/account/settings", methods=["GET", "POST"])
def account_settings():
    learn_only()
    acct = require_account()
    profile = acct.profile
    form = AttachMsaForm()
    can_attach = acct.kind == "work" and not profile.has_personal_account
    if can_attach and form.validate_on_submit():
        try:
            create_account(
                g.issuer,
                form.email.data,
                form.password.data,
                profile.display_name,
                kind="personal",
                profile=profile,
            )
        except AccountError:
            form.email.errors.append(_("An account with this email already exists."))
        else:
            flash(_("Your personal Microsoft account was added to your Learn profile."),
                  "success")
            return redirect(url_for("idp.account_settings"))
    return render_template(
        "idp/settings.html",
        account=acct,
        profile=profile,
        form=form,
        can_attach=can_attach,
    )


@bp.route("/account/certification-profile", methods=["GET", "POST"])
def certification_profile():
    learn_only()
    acct = require_account()
    profile = acct.profile
    form = CertificationProfileForm(obj=profile)
    if form.validate_on_submit():
        profile.legal_name = form.legal_name.data.strip()
        profile.country = form.country.data.strip()
        created = profile.mcid is None
        if created:
            profile.mcid = generate_mcid(g.issuer)
        db.session.commit()
        if created:
            flash(_("Your certification profile is complete. Your MCID is %(mcid)s.",
                    mcid=profile.mcid), "success")
        else:
            flash(_("Your certification profile was updated."), "success")
        return redirect(url_for("idp.certification_profile"))
    return render_template(
        "idp/certification_profile.html", account=acct, profile=profile, form=form
    )


@bp.post("/account/signout")
def account_signout():
    form = SignOutForm()
    if form.validate_on_submit():
        sign_out()
    return render_template("idp/signed_out.html")


# --------------------------------------------------------------------------
# Root
# --------------------------------------------------------------------------


@root.get("/")
def index():
    base = current_app.config["IDP_PUBLIC_URL"].rstrip("/")
    issuers = [
        {
            "slug": slug,
            "name": info["name"],
            "issuer": f"{base}/{slug}",
            "discovery": f"{base}/{slug}/.well-known/openid-configuration",
        }
        for slug, info in ISSUERS.items()
    ]
    return render_template("idp/index.html", issuers=issuers)


@root.app_errorhandler(CSRFError)
def handle_csrf_error(error):
    return provider_error(_("Your session expired"), _("Please try again."))


@root.app_errorhandler(404)
def handle_not_found(error):
    return provider_error(_("Page not found"),
                          _("Check the address, or start again from the application."), 404)


@root.app_errorhandler(405)
def handle_method_not_allowed(error):
    return provider_error(_("That action is not allowed here"),
                          _("Start again from the application."), 405)


@root.app_errorhandler(500)
def handle_internal_error(error):
    # The traceback goes to the log (with the request id), never to the page.
    db.session.rollback()
    return provider_error(_("Something went wrong"),
                          _("Nothing was changed. Please try again in a moment."), 500)
