"""The "Test scenario" panel on a provider's sign-in and consent pages (QA mode).

A CSRF-protected form open to any visitor: what it arms, lists and clears belongs to the
browser session that armed it only (its panel id, see ``arming.py``).
"""

from __future__ import annotations

from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import url_for
from flask_babel import gettext as _, ngettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms import IntegerField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import SubmitField
from wtforms.validators import DataRequired
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from ..issuers import issuer_blueprint
from ..models import FaultScenario
from ..models import db
from ..sessions import safe_next
from .arming import ScenarioError
from .arming import arm_scenario
from .arming import clear_scenarios
from .arming import session_panel_id
from .catalog import CATALOG
from .catalog import MAX_SLOW_SECONDS

panel = issuer_blueprint("qa_panel", __name__, url_prefix="/test-scenario")

STAGE_LABELS = {
    "authorize": _l("At authorize"),
    "token": _l("At the token endpoint"),
    "id_token": _l("In the ID token"),
    "userinfo": _l("At userinfo"),
}

# What each scenario does, in one line, for the panel's list (the catalog's descriptions are
# the API's and the docs', in English).
SCENARIO_LABELS = {
    "authorize_access_denied": _l("The user cancels at the provider"),
    "authorize_login_required": _l("The provider asks to sign in again"),
    "authorize_consent_required": _l("The provider asks for consent again"),
    "authorize_server_error": _l("The provider fails with a server error"),
    "authorize_temporarily_unavailable": _l("The provider is temporarily unavailable"),
    "authorize_wrong_state": _l("The answer carries a state the app never sent"),
    "token_http_500": _l("The token endpoint answers HTTP 500"),
    "token_slow": _l("The token endpoint answers too slowly"),
    "token_invalid_grant": _l("The token endpoint refuses the code"),
    "token_code_reused": _l("The code counts as already used"),
    "id_token_bad_signature": _l("The ID token has a forged signature"),
    "id_token_alg_none": _l("The ID token is not signed (alg none)"),
    "id_token_unknown_kid": _l("The ID token is signed with an unpublished key"),
    "id_token_wrong_iss": _l("The ID token names another issuer"),
    "id_token_wrong_aud": _l("The ID token is for another app (aud)"),
    "id_token_expired": _l("The ID token has expired"),
    "id_token_iat_future": _l("The ID token is issued in the future"),
    "id_token_nonce_missing": _l("The ID token has no nonce"),
    "id_token_nonce_wrong": _l("The ID token has a nonce the app never sent"),
    "id_token_mcid_missing": _l("The account has no MCID"),
    "userinfo_sub_mismatch": _l("Userinfo describes another account"),
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
    """Each scenario described in one line (its name after it, as the API and docs call it),
    grouped by stage (rendered as <optgroup>s)."""
    return [
        SelectChoice(spec.name, _("%(description)s (%(name)s)", description=SCENARIO_LABELS[spec.name],
                                  name=spec.name),
                     optgroup=str(STAGE_LABELS[spec.stage]))
        for spec in CATALOG.values()
        if issuer in spec.issuers
    ]


def panel_context(client, form_action: str) -> dict | None:
    """What the panel template needs (its two forms and this browser's armed scenarios), or
    None outside QA mode."""
    if not current_app.config.get("IDP_QA_MODE") or client is None:
        return None
    arm = ScenarioPanelForm(formdata=None, prefix=PANEL_PREFIX,
                            data={"client_id": client.client_id, "next": form_action})
    arm.scenario.choices = scenario_choices(g.issuer)
    panel_id = session_panel_id()
    armed = db.session.scalars(
        db.select(FaultScenario)
        .where(
            FaultScenario.issuer == g.issuer,
            FaultScenario.consumed.is_(False),
            FaultScenario.panel_id == panel_id)
        .order_by(FaultScenario.id)
    ).all() if panel_id else []  # others' scenarios are never shown
    return {
        "form": arm,
        "clear_form": ClearScenariosForm(formdata=None, prefix=CLEAR_PREFIX,
                                         data={"next": form_action}),
        "client_id": client.client_id,
        "armed": armed,
    }


def _back(target: str | None):
    return redirect(safe_next(target) or url_for("pages.home"))


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
        flash(ngettext("%(num)d test scenario cleared.", "%(num)d test scenarios cleared.", count), "success")
    return _back(form.next.data)
