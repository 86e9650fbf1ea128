"""QA mode of the providers: the JSON control API and the "Test scenario" panel.

Both exist only when ``IDP_QA_MODE`` is on (see :func:`register_qa`); the API also
needs ``IDP_CONTROL_TOKEN`` to be configured (404 otherwise). The API is for
automated suites: bearer token, JSON in and out, validation errors as
``400 {"error": ..., "field": ...}``; what it arms reaches every flow its filters name. The
panel is a CSRF-protected form on the provider's own sign-in and consent pages, open to any
visitor: what it arms, lists and clears belongs to the browser session that armed it only.
"""

from __future__ import annotations

import datetime as dt
import hmac

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField
from wtforms import IntegerField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import SubmitField
from wtforms.validators import DataRequired
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from page_catalog import gettext as _
from page_catalog import lazy_gettext as _l
from page_catalog import page_locale

from .config import ISSUERS
from .demo import DEMO_PASSWORD
from .fixed_markup import rendered_once
from .keys import published_keys
from .keys import rotate_signing_key
from .models import Account
from .models import FaultScenario
from .models import SigningKey
from .models import TranscriptItem
from .models import db
from .scenarios import CATALOG
from .scenarios import MAX_SLOW_SECONDS
from .scenarios import SCOPES
from .scenarios import ScenarioError
from .scenarios import arm_scenario
from .scenarios import clear_scenarios
from .scenarios import list_scenarios
from .scenarios import scenario_to_dict
from .scenarios import session_panel_id
from .services import CATALOG as COURSE_CATALOG
from .services import KINDS
from .services import LEVELS
from .services import AccountError
from .services import add_transcript_item
from .services import create_account
from .services import delete_account
from .services import find_account
from .services import normalize_email
from .services import set_profile_mcid

api = Blueprint("qa_api", __name__, url_prefix="/<issuer>/qa")
catalog_bp = Blueprint("qa_catalog", __name__)
panel = Blueprint("qa_panel", __name__, url_prefix="/<issuer>/test-scenario")

#: Longest grace period accepted for a key rotation (30 days).
MAX_GRACE_SECONDS = 30 * 24 * 3600


class ApiError(Exception):
    def __init__(self, message: str, field: str | None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def register_qa(app) -> None:
    """Mount the QA endpoints when QA mode is on; otherwise they do not exist."""
    if not app.config.get("IDP_QA_MODE"):
        return
    app.register_blueprint(catalog_bp)
    app.register_blueprint(api)
    app.register_blueprint(panel)


def exempt_from_csrf(app) -> None:
    """The JSON API is bearer-token protected, not cookie based: no CSRF token.
    Only matters when a CSRFProtect instance guards the whole app."""
    csrf = app.extensions.get("csrf")
    if csrf is not None and app.config.get("IDP_QA_MODE"):
        csrf.exempt(api)
        csrf.exempt(catalog_bp)
        if "idp_qa" in app.blueprints:  # POST /qa/reset
            csrf.exempt(app.blueprints["idp_qa"])


# --------------------------------------------------------------------------
# Authentication and errors of the API
# --------------------------------------------------------------------------


def _bearer_ok() -> bool:
    expected = current_app.config.get("IDP_CONTROL_TOKEN") or ""
    if not expected:
        abort(404)  # no token configured: the control API does not exist
    header = request.headers.get("Authorization", "")
    scheme, _sep, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    # Constant-time comparison; the token is never logged or echoed.
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _unauthorized():
    response = jsonify({"error": "A valid 'Authorization: Bearer <IDP_CONTROL_TOKEN>' "
                                 "header is required.", "field": "Authorization"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="qa"'
    return response


@catalog_bp.before_request
def _catalog_auth():
    if not _bearer_ok():
        return _unauthorized()


@api.url_value_preprocessor
def _pull_issuer(endpoint, values):
    issuer = (values or {}).pop("issuer", None)
    if issuer not in ISSUERS:
        abort(404)
    g.issuer = issuer


@api.url_defaults
def _add_issuer(endpoint, values):
    if "issuer" not in values and g.get("issuer"):
        values["issuer"] = g.issuer


@api.before_request
def _api_auth():
    if not _bearer_ok():
        return _unauthorized()


@api.errorhandler(ApiError)
def _api_error(error: ApiError):
    db.session.rollback()
    return jsonify({"error": error.message, "field": error.field}), error.status


@api.errorhandler(IntegrityError)
def _api_conflict(error):
    db.session.rollback()
    return jsonify({"error": "This change conflicts with existing data; nothing was changed.",
                    "field": None}), 400


@api.errorhandler(404)
def _api_not_found(error):
    return jsonify({"error": "Not found.", "field": None}), 404


@api.errorhandler(405)
def _api_method_not_allowed(error):
    return jsonify({"error": "Method not allowed.", "field": None}), 405


def _body(allowed: set[str]) -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError("The request body must be a JSON object "
                       "(Content-Type: application/json).", "body")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiError(f"Unknown field '{unknown[0]}'.", unknown[0])
    return data


def _string(data: dict, key: str, *, required=False, max_len=255, min_len=1,
            default=None) -> str | None:
    if key not in data or data[key] is None:
        if required:
            raise ApiError(f"'{key}' is required.", key)
        return default
    value = data[key]
    if not isinstance(value, str) or not min_len <= len(value.strip()) <= max_len:
        raise ApiError(f"'{key}' must be a string of {min_len} to {max_len} characters.", key)
    return value.strip()


def _email(data: dict, key: str, required=False) -> str | None:
    value = _string(data, key, required=required)
    if value is not None and ("@" not in value or value.startswith("@") or " " in value):
        raise ApiError(f"'{key}' must be an email address.", key)
    return normalize_email(value) if value else None


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------


@catalog_bp.get("/qa/scenarios/catalog")
def scenario_catalog():
    return jsonify({"scenarios": [spec.to_dict() for spec in CATALOG.values()],
                    "scopes": list(SCOPES)})


@api.get("/scenarios")
def scenarios_list():
    include_consumed = request.args.get("include_consumed", "1") not in ("0", "false")
    rows = list_scenarios(g.issuer, include_consumed=include_consumed)
    return jsonify({"issuer": g.issuer, "scenarios": [scenario_to_dict(r) for r in rows]})


@api.post("/scenarios")
def scenarios_arm():
    data = _body({"scenario", "scope", "client_id", "account", "params"})
    try:
        row = arm_scenario(
            g.issuer,
            data.get("scenario"),
            scope=data.get("scope", "next-flow"),
            client_id=data.get("client_id"),
            account_email=data.get("account"),
            params=data.get("params"),
        )
    except ScenarioError as error:
        raise ApiError(error.message, error.field) from None
    return jsonify(scenario_to_dict(row)), 201


@api.delete("/scenarios")
def scenarios_clear_all():
    return jsonify({"cleared": clear_scenarios(g.issuer)})


@api.delete("/scenarios/<int:scenario_id>")
def scenarios_clear_one(scenario_id: int):
    cleared = clear_scenarios(g.issuer, scenario_id)
    if not cleared:
        raise ApiError("No such scenario at this issuer.", "id", 404)
    return jsonify({"cleared": cleared})


# --------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------

ACCOUNT_FIELDS = {"email", "password", "name", "kind", "mcid", "msa_email",
                  "legal_name", "country", "transcript"}
ACCOUNT_PATCH_FIELDS = ACCOUNT_FIELDS - {"email", "transcript"}
ITEM_FIELDS = {"catalog", "kind", "title", "code", "level", "completed_at"}


def account_to_dict(account: Account) -> dict:
    profile = account.profile
    return {
        "issuer": account.issuer,
        "email": account.email,
        "name": profile.display_name,
        "kind": account.kind,
        "subject": account.subject,
        "mcid": profile.mcid,
        "legal_name": profile.legal_name,
        "country": profile.country,
        "msa_attached": profile.has_personal_account,
        "profile_accounts": [{"email": a.email, "kind": a.kind} for a in profile.accounts],
        "transcript": [item.to_dict() for item in profile.transcript_items],
    }


def _account_or_404(email: str) -> Account:
    account = find_account(g.issuer, email)
    if account is None:
        raise ApiError("No account with this email at this issuer.", "email", 404)
    return account


def _mcid_value(data: dict):
    """``mcid``: a string, "generate", or null (remove); Learn only."""
    value = data["mcid"]
    if g.issuer != "learn" and value is not None:
        raise ApiError("Only Microsoft Learn profiles have an MCID.", "mcid")
    if value is not None and not isinstance(value, str):
        raise ApiError("'mcid' must be an 8 or 9 digit string, \"generate\" or null.", "mcid")
    return value


def _password(data: dict, default=None) -> str | None:
    value = data.get("password", default)
    if value is None:
        return None
    if not isinstance(value, str) or not 8 <= len(value) <= 128:
        raise ApiError("'password' must be 8 to 128 characters.", "password")
    return value


def _kind(data: dict, default=None) -> str | None:
    value = data.get("kind", default)
    if value is None:
        return None
    if value not in ("personal", "work"):
        raise ApiError("'kind' must be 'personal' or 'work'.", "kind")
    if g.issuer != "learn" and value != "personal":
        raise ApiError("Partner University accounts are personal accounts.", "kind")
    return value


def _attach_msa(account: Account, msa_email: str, password: str) -> None:
    """Add a personal Microsoft account to a work account's Learn profile."""
    if g.issuer != "learn":
        raise ApiError("Only Microsoft Learn profiles take an attached MSA.", "msa_email")
    if account.kind != "work":
        raise ApiError("An MSA is attached to a work account's profile.", "msa_email")
    if account.profile.has_personal_account:
        raise ApiError("This profile already has a personal Microsoft account.", "msa_email")
    try:
        create_account(g.issuer, msa_email, password, account.profile.display_name,
                       kind="personal", profile=account.profile, commit=False)
    except AccountError as error:
        raise ApiError(str(error), "msa_email") from None


def _apply_item(profile, data: dict, field_prefix: str = "") -> TranscriptItem:
    unknown = sorted(set(data) - ITEM_FIELDS)
    if unknown:
        raise ApiError(f"Unknown field '{unknown[0]}'.", field_prefix + unknown[0])
    entry = {}
    if data.get("catalog") is not None:
        entry = COURSE_CATALOG.get(data["catalog"]) if isinstance(data["catalog"], str) else None
        if entry is None:
            raise ApiError("Unknown catalog item; one of: " + ", ".join(COURSE_CATALOG) + ".",
                           field_prefix + "catalog")
    kind = data.get("kind", entry.get("kind"))
    if kind not in KINDS:
        raise ApiError(f"'kind' must be one of {', '.join(KINDS)}.", field_prefix + "kind")
    try:
        title = _string(data, "title", required=not entry, default=entry.get("title"))
        code = _string(data, "code", max_len=40, default=entry.get("code"))
    except ApiError as error:
        raise ApiError(error.message, field_prefix + error.field) from None
    level = data.get("level", entry.get("level"))
    if level is not None and level not in LEVELS:
        raise ApiError(f"'level' must be one of {', '.join(LEVELS)} or null.",
                       field_prefix + "level")
    completed = data.get("completed_at")
    if completed is not None:
        try:
            completed = dt.date.fromisoformat(completed)
        except (TypeError, ValueError):
            raise ApiError("'completed_at' must be a date (YYYY-MM-DD).",
                           field_prefix + "completed_at") from None
    return add_transcript_item(profile, kind, title, code=code, level=level,
                               completed_at=completed, commit=False)


@api.post("/accounts")
def accounts_create():
    data = _body(ACCOUNT_FIELDS)
    email = _email(data, "email", required=True)
    password = _password(data, DEMO_PASSWORD)
    name = _string(data, "name", max_len=120, default=email.split("@")[0])
    kind = _kind(data, "personal")
    mcid = _mcid_value(data) if "mcid" in data else None
    msa_email = _email(data, "msa_email")
    legal_name = _string(data, "legal_name", max_len=200)
    country = _string(data, "country", max_len=80)
    transcript = data.get("transcript") or []
    if not isinstance(transcript, list) or not all(isinstance(i, dict) for i in transcript):
        raise ApiError("'transcript' must be a list of objects.", "transcript")
    if find_account(g.issuer, email) is not None:
        raise ApiError("An account with this email already exists.", "email")
    try:
        account = create_account(g.issuer, email, password, name, kind=kind,
                                 legal_name=legal_name, country=country, commit=False)
        if mcid is not None:
            set_profile_mcid(account.profile, mcid)
    except AccountError as error:
        raise ApiError(str(error), "mcid" if "MCID" in str(error) else "email") from None
    if msa_email:
        _attach_msa(account, msa_email, password)
    for index, item in enumerate(transcript):
        _apply_item(account.profile, item, f"transcript[{index}].")
    db.session.commit()
    return jsonify(account_to_dict(account)), 201


@api.get("/accounts/<email>")
def accounts_get(email: str):
    return jsonify(account_to_dict(_account_or_404(email)))


@api.patch("/accounts/<email>")
def accounts_update(email: str):
    account = _account_or_404(email)
    data = _body(ACCOUNT_PATCH_FIELDS)
    profile = account.profile
    if "name" in data:
        profile.display_name = _string(data, "name", required=True, max_len=120)
    if "legal_name" in data:
        profile.legal_name = _string(data, "legal_name", max_len=200)
    if "country" in data:
        profile.country = _string(data, "country", max_len=80)
    password = _password(data)
    if password:
        account.set_password(password)
    if "kind" in data:
        kind = _kind(data)
        if kind is None:
            raise ApiError("'kind' must be 'personal' or 'work'.", "kind")
        account.kind = kind
    if "mcid" in data:
        try:
            set_profile_mcid(profile, _mcid_value(data))
        except AccountError as error:
            raise ApiError(str(error), "mcid") from None
    msa_email = _email(data, "msa_email")
    if msa_email:
        _attach_msa(account, msa_email, password or DEMO_PASSWORD)
    db.session.commit()
    return jsonify(account_to_dict(account))


@api.delete("/accounts/<email>")
def accounts_delete(email: str):
    account = _account_or_404(email)
    delete_account(account)
    return jsonify({"deleted": normalize_email(email)})


@api.post("/accounts/<email>/transcript")
def accounts_add_transcript_item(email: str):
    account = _account_or_404(email)
    data = _body(ITEM_FIELDS)
    item = _apply_item(account.profile, data)
    db.session.commit()
    return jsonify(item.to_dict()), 201


@api.delete("/accounts/<email>/transcript/<item_id>")
def accounts_delete_transcript_item(email: str, item_id: str):
    account = _account_or_404(email)
    item = db.session.scalar(db.select(TranscriptItem).filter_by(
        public_id=item_id, profile_id=account.profile_id))
    if item is None:
        raise ApiError("No such transcript item on this profile.", "id", 404)
    db.session.delete(item)
    db.session.commit()
    return jsonify({"deleted": item_id})


# --------------------------------------------------------------------------
# Signing keys
# --------------------------------------------------------------------------


def _key_to_dict(row: SigningKey) -> dict:
    return {"kid": row.kid, "active": row.active,
            "leaves_jwks_at": row.retired_at.isoformat(timespec="seconds") + "Z"
            if row.retired_at else None}


@api.post("/rotate-key")
def rotate_key():
    data = request.get_json(silent=True)
    if data is None and not request.get_data():
        data = {}
    if not isinstance(data, dict):
        raise ApiError("The request body must be a JSON object.", "body")
    unknown = sorted(set(data) - {"grace_seconds"})
    if unknown:
        raise ApiError(f"Unknown field '{unknown[0]}'.", unknown[0])
    grace = data.get("grace_seconds")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)
                              or not 0 <= grace <= MAX_GRACE_SECONDS):
        raise ApiError(f"'grace_seconds' must be a whole number from 0 to {MAX_GRACE_SECONDS}.",
                       "grace_seconds")
    new = rotate_signing_key(g.issuer, grace_seconds=grace)
    return jsonify({"kid": new.kid,
                    "published": [_key_to_dict(row) for row in published_keys(g.issuer)]}), 201


@api.get("/keys")
def keys_list():
    return jsonify({"published": [_key_to_dict(row) for row in published_keys(g.issuer)]})


# --------------------------------------------------------------------------
# "Test scenario" panel on the provider's sign-in and consent pages
# --------------------------------------------------------------------------

STAGE_LABELS = {
    "authorize": _l("At authorize"),
    "token": _l("At the token endpoint"),
    "id_token": _l("In the ID token"),
    "userinfo": _l("At userinfo"),
}


# Field names and ids of the panel never collide with the sign-in or consent form's.
PANEL_PREFIX = "qa"
CLEAR_PREFIX = "qa-clear"


class ScenarioPanelForm(FlaskForm):
    scenario = SelectField(_l("Scenario"), validators=[DataRequired()])
    scope = SelectField(_l("Applies to"), choices=[
        SelectChoice("next-flow", _l("The next flow of this app")),
        SelectChoice("until-cleared", _l("Every flow of this app until cleared")),
    ])
    seconds = IntegerField(_l("Seconds (slow token endpoint)"),
                           validators=[Optional(), NumberRange(min=1, max=MAX_SLOW_SECONDS)])
    client_id = HiddenField()
    next = HiddenField()
    submit = SubmitField(_l("Arm scenario"))


class ClearScenariosForm(FlaskForm):
    next = HiddenField()
    submit = SubmitField(_l("Clear test scenarios"))


def scenario_choices(issuer: str) -> list[SelectChoice]:
    """Scenario names grouped by stage (rendered as <optgroup>s)."""
    return [
        SelectChoice(spec.name, optgroup=str(STAGE_LABELS[spec.stage]))
        for spec in CATALOG.values()
        if issuer in spec.issuers
    ]


# This browser's armed scenarios as the panel lists them, oldest first (built once: the
# panel is on every sign-in and consent page in QA mode). Others' scenarios are not shown.
_SCENARIOS = FaultScenario.__table__.c
_PANEL_ARMED = (
    db.select(_SCENARIOS.name.label("scenario"), _SCENARIOS.scope, _SCENARIOS.client_id,
              _SCENARIOS.account_email.label("account"))
    .where(_SCENARIOS.issuer == db.bindparam("issuer"), _SCENARIOS.consumed.is_(False),
           _SCENARIOS.panel_id == db.bindparam("panel_id"))
    .order_by(_SCENARIOS.id)
)


def panel_context(client, form_action: str) -> dict | None:
    """What the panel template needs, or None outside QA mode."""
    if not current_app.config.get("IDP_QA_MODE") or client is None:
        return None
    panel_id = session_panel_id()
    armed = db.session.execute(_PANEL_ARMED, {"issuer": g.issuer, "panel_id": panel_id}) \
        if panel_id else ()
    return {
        "fields": panel_fields(g.issuer, str(page_locale())),
        "csrf_token": generate_csrf(),
        "armed": [row._asdict() for row in armed],
        "client_id": client.client_id,
        "next": form_action,
    }


def panel_fields(issuer: str, locale: str) -> Markup:
    """The panel's scenario, scope and seconds fields and its button, rendered once per issuer
    and language.

    They are the same on every sign-in and consent page of one issuer and language (an empty
    form: the panel posts elsewhere and redirects back, so it never shows errors or a choice).
    The page writes the inputs that change (CSRF token, client, return address) itself, with
    the names and ids the form's prefix gives them; the POST is validated by ScenarioPanelForm."""
    def render() -> str:
        form = ScenarioPanelForm(formdata=None, prefix=PANEL_PREFIX, meta={"csrf": False})
        form.scenario.choices = scenario_choices(issuer)
        return render_template("idp/_qa_panel_fields.html", form=form)

    return rendered_once(("idp/_qa_panel_fields.html", issuer, locale), render)


@panel.url_value_preprocessor
def _panel_issuer(endpoint, values):
    issuer = (values or {}).pop("issuer", None)
    if issuer not in ISSUERS:
        abort(404)
    g.issuer = issuer
    g.issuer_info = ISSUERS[issuer]


@panel.url_defaults
def _panel_add_issuer(endpoint, values):
    if "issuer" not in values and g.get("issuer"):
        values["issuer"] = g.issuer


def _back(target: str | None):
    from .routes import safe_next

    return redirect(safe_next(target) or url_for("idp.home", issuer=g.issuer))


@panel.post("/")
def panel_arm():
    form = ScenarioPanelForm(prefix=PANEL_PREFIX)
    form.scenario.choices = scenario_choices(g.issuer)
    if not form.validate_on_submit():
        flash(_("The test scenario was not armed: please check the form and try again."),
              "error")
        return _back(form.next.data)
    params = {}
    if form.scenario.data == "token_slow" and form.seconds.data:
        params["seconds"] = form.seconds.data
    try:
        arm_scenario(g.issuer, form.scenario.data, scope=form.scope.data,
                     client_id=form.client_id.data or None, params=params,
                     panel_id=session_panel_id(create=True))
    except ScenarioError as error:
        flash(error.message, "error")
    else:
        flash(_("Test scenario armed: %(name)s.", name=form.scenario.data), "success")
    return _back(form.next.data)


@panel.post("/clear")
def panel_clear():
    form = ClearScenariosForm(prefix=CLEAR_PREFIX)
    if form.validate_on_submit():
        panel_id = session_panel_id()
        count = clear_scenarios(g.issuer, panel_id=panel_id) if panel_id else 0
        flash(_("%(count)d test scenario(s) cleared.", count=count), "success")
    return _back(form.next.data)
