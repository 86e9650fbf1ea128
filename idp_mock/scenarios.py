"""QA fault scenarios: make one provider misbehave on purpose, on demand.

A scenario is armed per issuer (from the sign-in page's "Test scenario" panel or
the JSON control API) and fires at one stage of the authorization-code flow:

- ``authorize``: instead of a code, the redirect back carries an OAuth error, or
  a code with a wrong ``state``;
- ``token``: the token endpoint fails (HTTP 500, slow answer, ``invalid_grant``,
  a code already redeemed);
- ``id_token``: the issued ID token is forged or carries a wrong claim;
- ``userinfo``: the userinfo answer names another subject.

Armed scenarios live in the ``idp_fault_scenarios`` table, never in process
memory, so every worker process of the providers applies the same ones. The
"next-flow" scope is consumed with one conditional UPDATE: of two concurrent
flows only one gets it.

Who a scenario reaches: one armed through the control API (bearer token) reaches every
flow of its client/account filters; one armed from a page's panel reaches only the flows of
the browser session that armed it (a random panel id kept in that session, copied onto
the codes it is given), so a visitor cannot break anyone else's sign-in. Token faults fire
only after Authlib authenticated the client and checked the code and PKCE verifier, and at
most once per code.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import warnings
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from authlib.oauth2.rfc6749 import AccessDeniedError
from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError
from authlib.oidc.core.errors import LoginRequiredError
from flask import Response
from flask import g
from flask import session
from joserfc.errors import SecurityWarning
from joserfc.jwk import RSAKey
from sqlalchemy.exc import IntegrityError

from .config import ISSUERS
from .models import Account
from .models import AuthorizationCode
from .models import FaultHit
from .models import FaultScenario
from .models import Token
from .models import db
from .models import new_subject
from .models import utcnow
from .services import normalize_email

STAGES = ("authorize", "token", "id_token", "userinfo")
SCOPES = ("next-flow", "until-cleared")
#: The longest a "slow token endpoint" may stall: past the webapp's 10 s deadline, well
#: within gunicorn's 60 s worker timeout.
MAX_SLOW_SECONDS = 30
#: Session key of the browser's panel id (kept across sign-in, see routes.sign_in).
PANEL_SESSION_KEY = "qa_panel"


@dataclass(frozen=True)
class Param:
    minimum: int
    maximum: int
    default: int
    description: str


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    stage: str
    description: str
    #: The relying-party check expected to fail (LearnLink webapp names).
    expected_check: str
    params: dict[str, Param] = field(default_factory=dict)
    issuers: tuple[str, ...] = tuple(ISSUERS)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "stage": self.stage,
            "description": self.description,
            "expected_check": self.expected_check,
            "issuers": list(self.issuers),
            "params": {
                key: {"minimum": p.minimum, "maximum": p.maximum, "default": p.default,
                      "description": p.description}
                for key, p in self.params.items()
            },
        }


CATALOG: dict[str, ScenarioSpec] = {
    spec.name: spec
    for spec in [
        ScenarioSpec("authorize_access_denied", "authorize",
                     "The user cancels: redirect back with error=access_denied.",
                     "access_denied"),
        ScenarioSpec("authorize_login_required", "authorize",
                     "Redirect back with error=login_required.", "authorize_login_required"),
        ScenarioSpec("authorize_consent_required", "authorize",
                     "Redirect back with error=consent_required.",
                     "authorize_consent_required"),
        ScenarioSpec("authorize_server_error", "authorize",
                     "Redirect back with error=server_error.", "authorize_server_error"),
        ScenarioSpec("authorize_temporarily_unavailable", "authorize",
                     "Redirect back with error=temporarily_unavailable.",
                     "authorize_temporarily_unavailable"),
        ScenarioSpec("authorize_wrong_state", "authorize",
                     "Redirect back with a valid code but a state the client never sent.",
                     "state_mismatch"),
        ScenarioSpec("token_http_500", "token",
                     "The token endpoint answers HTTP 500 (not JSON).", "token_http_error"),
        ScenarioSpec("token_slow", "token",
                     "The token endpoint waits N seconds before answering.", "token_timeout",
                     params={"seconds": Param(1, MAX_SLOW_SECONDS, 2,
                                              "Seconds to wait before answering")}),
        ScenarioSpec("token_invalid_grant", "token",
                     "The token endpoint refuses the code with invalid_grant.",
                     "token_invalid_grant"),
        ScenarioSpec("token_code_reused", "token",
                     "The code counts as already redeemed; the real single-use check refuses it.",
                     "token_invalid_grant"),
        ScenarioSpec("id_token_bad_signature", "id_token",
                     "Signed with a throwaway key under the published kid.",
                     "id_token_signature"),
        ScenarioSpec("id_token_alg_none", "id_token",
                     "Unsigned ID token (alg: none).", "id_token_alg"),
        ScenarioSpec("id_token_unknown_kid", "id_token",
                     "Signed with a throwaway key under a kid the JWKS does not publish.",
                     "id_token_kid"),
        ScenarioSpec("id_token_wrong_iss", "id_token",
                     "iss names another issuer.", "id_token_iss"),
        ScenarioSpec("id_token_wrong_aud", "id_token",
                     "aud names another client.", "id_token_aud"),
        ScenarioSpec("id_token_expired", "id_token",
                     "exp is one hour in the past.", "id_token_exp"),
        ScenarioSpec("id_token_iat_future", "id_token",
                     "iat is one hour in the future.", "id_token_iat"),
        ScenarioSpec("id_token_nonce_missing", "id_token",
                     "No nonce claim.", "id_token_nonce"),
        ScenarioSpec("id_token_nonce_wrong", "id_token",
                     "A nonce the client never sent.", "id_token_nonce"),
        ScenarioSpec("id_token_mcid_missing", "id_token",
                     "No mcid claim in the ID token nor in userinfo for that flow.",
                     "rule:no_mcid", issuers=("learn",)),
        ScenarioSpec("userinfo_sub_mismatch", "userinfo",
                     "userinfo answers with a sub other than the ID token's.",
                     "userinfo_sub_mismatch"),
    ]
}

_AUTHORIZE_ERRORS = {
    "authorize_access_denied": lambda **kw: AccessDeniedError(**kw),
    "authorize_login_required": lambda **kw: LoginRequiredError(**kw),
    "authorize_consent_required": lambda **kw: ConsentRequiredError(**kw),
    "authorize_server_error": lambda **kw: OAuth2Error(error="server_error", **kw),
    "authorize_temporarily_unavailable": lambda **kw: OAuth2Error(
        error="temporarily_unavailable", **kw),
}


class ScenarioError(ValueError):
    """Invalid scenario settings; ``field`` names the offending input."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


# --------------------------------------------------------------------------
# Arming, listing, clearing
# --------------------------------------------------------------------------


def validate_params(spec: ScenarioSpec, params: dict | None) -> dict:
    params = params or {}
    if not isinstance(params, dict):
        raise ScenarioError("params must be a JSON object.", "params")
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ScenarioError(f"Unknown parameter for {spec.name}: {unknown[0]}.",
                            f"params.{unknown[0]}")
    clean = {}
    for key, rule in spec.params.items():
        value = params.get(key, rule.default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{key} must be a whole number.", f"params.{key}")
        if not rule.minimum <= value <= rule.maximum:
            raise ScenarioError(
                f"{key} must be between {rule.minimum} and {rule.maximum}.", f"params.{key}")
        clean[key] = value
    return clean


def arm_scenario(
    issuer: str,
    name: str,
    scope: str = "next-flow",
    client_id: str | None = None,
    account_email: str | None = None,
    params: dict | None = None,
    panel_id: str | None = None,
) -> FaultScenario:
    """Validate and store one scenario; returns the new row. ``panel_id`` limits it to the
    flows of the browser session with that panel id."""
    spec = CATALOG.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ScenarioError("Unknown scenario; see GET /qa/scenarios/catalog.", "scenario")
    if issuer not in spec.issuers:
        raise ScenarioError(f"{name} only applies at: {', '.join(spec.issuers)}.", "scenario")
    if scope not in SCOPES:
        raise ScenarioError("scope must be 'next-flow' or 'until-cleared'.", "scope")
    for key, value in (("client_id", client_id), ("account", account_email)):
        if value is not None and (not isinstance(value, str) or not value.strip()
                                  or len(value) > 255):
            raise ScenarioError(f"{key} must be a non-empty string or null.", key)
    row = FaultScenario(
        issuer=issuer,
        name=name,
        scope=scope,
        client_id=client_id.strip() if client_id else None,
        account_email=normalize_email(account_email) if account_email else None,
        params_json=json.dumps(validate_params(spec, params), sort_keys=True),
        consumed=False,
        panel_id=panel_id,
    )
    db.session.add(row)
    db.session.commit()
    return row


def list_scenarios(issuer: str, include_consumed: bool = True) -> list[FaultScenario]:
    stmt = db.select(FaultScenario).filter_by(issuer=issuer).order_by(FaultScenario.id)
    if not include_consumed:
        stmt = stmt.filter_by(consumed=False)
    return list(db.session.scalars(stmt))


def clear_scenarios(issuer: str, scenario_id: int | None = None,
                    panel_id: str | None = None) -> int:
    """Delete one scenario (by id), those of one panel id, or all of ``issuer``; returns how
    many went."""
    stmt = db.select(FaultScenario).filter_by(issuer=issuer)
    if scenario_id is not None:
        stmt = stmt.filter_by(id=scenario_id)
    if panel_id is not None:
        stmt = stmt.filter_by(panel_id=panel_id)
    rows = list(db.session.scalars(stmt))
    for row in rows:
        db.session.delete(row)
    db.session.commit()
    return len(rows)


def scenario_params(row: FaultScenario) -> dict:
    return json.loads(row.params_json or "{}")


def scenario_to_dict(row: FaultScenario) -> dict:
    return {
        "id": row.id,
        "issuer": row.issuer,
        "scenario": row.name,
        "stage": CATALOG[row.name].stage if row.name in CATALOG else None,
        "scope": row.scope,
        "client_id": row.client_id,
        "account": row.account_email,
        "armed_from": "panel" if row.panel_id else "api",
        "params": scenario_params(row),
        "consumed": row.consumed,
        "created_at": _iso(row.created_at),
        "consumed_at": _iso(row.consumed_at),
        "hits": len(row.hits),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def session_panel_id(create: bool = False) -> str | None:
    """This browser session's panel id; a new random one (never reused) when ``create``."""
    value = session.get(PANEL_SESSION_KEY)
    if not isinstance(value, str):
        value = None
    if value is None and create:
        value = session[PANEL_SESSION_KEY] = secrets.token_urlsafe(32)
    return value


# --------------------------------------------------------------------------
# Firing
# --------------------------------------------------------------------------


def armed_stages(issuer: str) -> set[str]:
    """Stages with an unconsumed scenario of ``issuer``, read once per request: most requests
    of a flow find none and then skip the per-stage lookups. A scenario consumed later in the
    same request only leaves a stage listed, which falls back to the full lookup in hit()."""
    cache = g.setdefault("qa_armed_stages", {})
    if issuer not in cache:
        names = db.session.execute(_ARMED_NAMES, {"issuer": issuer}).scalars()
        cache[issuer] = {CATALOG[name].stage for name in names if name in CATALOG}
    return cache[issuer]


# Built once, run with parameters: nearly every provider request asks (see armed_stages).
# Plain Core on the table's columns: no ORM statement handling for a list of names.
_SCENARIOS = FaultScenario.__table__.c
_ARMED_NAMES = (
    db.select(_SCENARIOS.name)
    .where(_SCENARIOS.issuer == db.bindparam("issuer"), _SCENARIOS.consumed.is_(False))
    .distinct()
)


def hit(
    issuer: str,
    stage: str,
    client_id: str | None,
    account_email: str | None,
    token_id: int | None = None,
    panel_id: str | None = None,
    code_id: int | None = None,
) -> FaultScenario | None:
    """The scenario that applies to this hop of a flow, if any (oldest first).

    ``panel_id`` is the flow's browser panel id: panel-armed scenarios of other browsers
    never apply. A "next-flow" scenario is claimed with ``UPDATE … WHERE consumed = false``:
    when another worker claimed it first the rowcount is 0 and we look further. With
    ``code_id`` a scenario fires once per code: the hit's row is unique per (scenario, code)."""
    if stage not in armed_stages(issuer):
        return None
    names = [name for name, spec in CATALOG.items() if spec.stage == stage]
    email = normalize_email(account_email) if account_email else None
    stmt = (
        db.select(FaultScenario)
        .filter(FaultScenario.issuer == issuer, FaultScenario.name.in_(names),
                FaultScenario.consumed.is_(False))
        .filter(db.or_(FaultScenario.client_id.is_(None), FaultScenario.client_id == client_id))
        .filter(db.or_(FaultScenario.account_email.is_(None),
                       FaultScenario.account_email == email))
        .filter(db.or_(FaultScenario.panel_id.is_(None), FaultScenario.panel_id == panel_id)
                if panel_id else FaultScenario.panel_id.is_(None))
        .order_by(FaultScenario.id)
    )
    for row in db.session.scalars(stmt).all():
        if row.scope == "next-flow":
            claimed = db.session.execute(
                db.update(FaultScenario)
                .where(FaultScenario.id == row.id, FaultScenario.consumed.is_(False))
                .values(consumed=True, consumed_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                continue  # another flow claimed it first
        db.session.add(FaultHit(scenario_id=row.id, issuer=issuer, stage=stage,
                                client_id=client_id, account_email=email,
                                token_id=token_id, code_id=code_id))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            continue  # this code met this scenario already (a repeated or concurrent request)
        return row
    return None


def _replace_query_param(url: str, key: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != key]
    query.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def authorization_response(server, grant, account: Account):
    """The authorize endpoint's answer once the user allowed: normally a code,
    or the fault an armed ``authorize`` scenario asks for."""
    scenario = hit(server.issuer, "authorize", grant.client.client_id, account.email,
                   panel_id=session_panel_id())
    if scenario is None:
        return server.create_authorization_response(grant_user=account, grant=grant)
    if scenario.name == "authorize_wrong_state":
        response = server.create_authorization_response(grant_user=account, grant=grant)
        location = response.headers.get("Location")
        if location:
            response.headers["Location"] = _replace_query_param(
                location, "state", "qa-wrong-state-" + secrets.token_urlsafe(8))
        return response
    error = _AUTHORIZE_ERRORS[scenario.name](
        description="Test scenario " + scenario.name,
        redirect_uri=grant.redirect_uri,
        state=grant.request.payload.state,
    )
    return server.handle_error_response(grant.request, error)


class ScenarioResponse(Exception):
    """A token fault's own answer (not an OAuth error), raised from the grant's hook."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


class TokenFaults:
    """Grant extension: fires an armed ``token`` scenario from Authlib's
    ``before_create_token_response`` hook, i.e. once the client is authenticated and the
    code, redirect_uri and PKCE verifier are checked, before the code is claimed. Nobody
    without the client's credentials and a live code can set a fault off."""

    def __call__(self, grant):
        grant.register_hook("before_create_token_response", self.fire)

    def fire(self, grant):
        issuer = grant.server.issuer
        if "token" not in armed_stages(issuer):
            return
        code = grant.request.authorization_code
        scenario = hit(issuer, "token", code.client_id, code.user.email if code.user else None,
                       panel_id=code.qa_panel_id, code_id=code.id)
        name = scenario.name if scenario else None
        if name == "token_http_500":
            raise ScenarioResponse(Response(
                "Internal Server Error (test scenario token_http_500)\n",
                status=500, mimetype="text/plain"))
        if name == "token_slow":
            # Fires once per code (see hit): one worker per flow at most, for a bounded time.
            time.sleep(min(scenario_params(scenario).get("seconds", 2), MAX_SLOW_SECONDS))
        elif name == "token_invalid_grant":
            raise InvalidGrantError("Test scenario token_invalid_grant")
        elif name == "token_code_reused":
            # As if this code had been redeemed a moment ago: the grant's single-use claim
            # (authenticate_user) then refuses it for real.
            db.session.execute(db.update(AuthorizationCode).where(AuthorizationCode.id == code.id)
                               .values(used_at=int(time.time())))


def token_response(server):
    """The token endpoint's answer (Authlib's), or the one a token fault sends instead."""
    try:
        return server.create_token_response()
    except ScenarioResponse as fault:
        db.session.rollback()
        return fault.response


# --------------------------------------------------------------------------
# ID token hooks (called from IssuerOpenIDCode)
# --------------------------------------------------------------------------


def id_token_fault() -> str | None:
    """The id_token scenario chosen for the token being encoded in this request."""
    return g.get("qa_id_token_fault")


def begin_id_token(issuer: str, client_id: str, user: Account, access_token: str | None,
                   code: AuthorizationCode | None = None):
    """Pick the id_token scenario of this token response (``code``'s flow), if any."""
    if "id_token" not in armed_stages(issuer):
        g.qa_id_token_fault = None
        return None
    token_id = None
    if access_token:
        token_id = db.session.scalar(
            db.select(Token.id).filter_by(issuer=issuer, access_token=access_token))
    scenario = hit(issuer, "id_token", client_id, user.email, token_id=token_id,
                   panel_id=code.qa_panel_id if code is not None else None)
    g.qa_id_token_fault = scenario.name if scenario else None
    return g.qa_id_token_fault


def end_id_token() -> None:
    g.pop("qa_id_token_fault", None)


def throwaway_key() -> RSAKey:
    """A fresh key nobody publishes: what a forger would sign with."""
    return RSAKey.generate_key(2048, parameters={"alg": "RS256"}, private=True)


def adjust_header(header: dict) -> dict:
    fault = id_token_fault()
    if fault == "id_token_alg_none":
        return {"alg": "none"}
    if fault == "id_token_unknown_kid":
        return {**header, "kid": "qa-unknown-" + secrets.token_hex(6)}
    return header


def adjust_time_claims(claims: dict) -> dict:
    fault = id_token_fault()
    now = int(time.time())
    if fault == "id_token_wrong_iss":
        claims["iss"] = claims["iss"] + "-wrong-issuer"
    elif fault == "id_token_wrong_aud":
        claims["aud"] = ["qa-some-other-client"]
    elif fault == "id_token_expired":
        claims["iat"], claims["exp"] = now - 7200, now - 3600
    elif fault == "id_token_iat_future":
        claims["iat"], claims["exp"] = now + 3600, now + 7200
    return claims


def adjust_code_claims(claims: dict) -> dict:
    fault = id_token_fault()
    if fault == "id_token_nonce_missing":
        claims.pop("nonce", None)
    elif fault == "id_token_nonce_wrong":
        claims["nonce"] = "qa-wrong-nonce-" + secrets.token_urlsafe(8)
    return claims


def adjust_user_claims(claims: dict) -> dict:
    if id_token_fault() == "id_token_mcid_missing":
        claims.pop("mcid", None)
    return claims


def encode_unsigned(encode):
    """Run ``encode`` allowing joserfc's "none" algorithm without its warning
    (the scenario asks for it on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return encode()


# --------------------------------------------------------------------------
# Userinfo
# --------------------------------------------------------------------------


# The scenario that changed the id_token of a token's flow, if any (built once).
_HITS = FaultHit.__table__.c
_FAULT_OF_TOKEN = (
    db.select(_SCENARIOS.name)
    .join_from(FaultScenario.__table__, FaultHit.__table__, _HITS.scenario_id == _SCENARIOS.id)
    .where(_HITS.token_id == db.bindparam("token_id"), _HITS.issuer == db.bindparam("issuer"))
    .limit(1)
)


def adjust_userinfo(issuer: str, claims: dict, token: Token | None, user: Account) -> dict:
    """Apply a flow's id_token fault that also shapes userinfo, then any
    ``userinfo`` scenario."""
    if token is not None:
        carried = db.session.execute(
            _FAULT_OF_TOKEN, {"token_id": token.id, "issuer": issuer}).scalar()
        if carried == "id_token_mcid_missing":
            claims.pop("mcid", None)
    panel_id = None
    if token is not None and token.authorization_code_id and "userinfo" in armed_stages(issuer):
        panel_id = db.session.scalar(db.select(AuthorizationCode.qa_panel_id).filter_by(
            id=token.authorization_code_id))
    scenario = hit(issuer, "userinfo", token.client_id if token else None, user.email,
                   panel_id=panel_id)
    if scenario is not None and scenario.name == "userinfo_sub_mismatch":
        claims["sub"] = new_subject()
    return claims
