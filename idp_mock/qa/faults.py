"""How a fault is injected: an armed QA scenario (``qa/arming.py``) fires at one hop of a flow.

- authorize: :func:`authorization_response` answers Allow with the scenario's OAuth error (or a
  code with a wrong ``state``) instead of the code;
- token: :class:`TokenFaults`, a grant extension registered with the authorization-code grant,
  runs on Authlib's ``before_create_token_response`` hook, i.e. once the client is
  authenticated and the code, redirect_uri and PKCE verifier are checked, before the code is
  claimed: nobody without the client's credentials and a live code can set a fault off;
- id_token: :func:`id_token_plan` picks the flow's scenario as a :class:`FaultPlan`, which the
  grant's ``encode_id_token`` (``oauth2.py``) applies to the header, the claims and the key;
- userinfo: :func:`userinfo_claims` changes the answer.

Every hop first asks which stages have an unconsumed scenario (one query): most requests find
none and skip the per-stage lookups. A "next-flow" scenario is claimed with one conditional
UPDATE: of two concurrent flows only one gets it. Token faults fire at most once per code.
"""

from __future__ import annotations

import secrets
import time
import warnings
from dataclasses import dataclass
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
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import RSAKey
from sqlalchemy.exc import IntegrityError

from ..models import Account
from ..models import AuthorizationCode
from ..models import FaultHit
from ..models import FaultScenario
from ..models import Token
from ..models import db
from ..models import new_subject
from ..models import utcnow
from ..services import normalize_email
from .arming import scenario_params
from .arming import session_panel_id
from .catalog import CATALOG
from .catalog import MAX_SLOW_SECONDS

_AUTHORIZE_ERRORS = {
    "authorize_access_denied": lambda **kw: AccessDeniedError(**kw),
    "authorize_login_required": lambda **kw: LoginRequiredError(**kw),
    "authorize_consent_required": lambda **kw: ConsentRequiredError(**kw),
    "authorize_server_error": lambda **kw: OAuth2Error(error="server_error", **kw),
    "authorize_temporarily_unavailable": lambda **kw: OAuth2Error(
        error="temporarily_unavailable", **kw),
}


def armed_stages(issuer: str) -> set[str]:
    """Stages with an unconsumed scenario of ``issuer``, read once per request (a token
    exchange asks at the token and the id_token stage). A scenario consumed later in the same
    request only leaves its stage listed, which falls back to the full lookup."""
    armed = g.setdefault("qa_armed_stages", {})
    if issuer not in armed:
        names = db.session.scalars(
            db.select(FaultScenario.name).where(
                FaultScenario.issuer == issuer,
                FaultScenario.consumed.is_(False)).distinct())
        armed[issuer] = {CATALOG[name].stage for name in names if name in CATALOG}
    return armed[issuer]


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
    return claim_scenario(issuer, stage, client_id, account_email, token_id, panel_id, code_id)


def claim_scenario(issuer: str, stage: str, client_id: str | None, account_email: str | None,
                   token_id: int | None = None, panel_id: str | None = None,
                   code_id: int | None = None) -> FaultScenario | None:
    """:func:`hit` without the check that a scenario of ``stage`` is armed (done by the caller)."""
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


@dataclass(frozen=True)
class FaultPlan:
    """What the flow's id_token scenario changes in one ID token (``NO_FAULT``: nothing)."""

    scenario: str | None = None

    def header(self, kid: str) -> dict:
        if self.scenario == "id_token_alg_none":
            return {"alg": "none"}
        if self.scenario == "id_token_unknown_kid":
            return {"alg": "RS256", "kid": "qa-unknown-" + secrets.token_hex(6)}
        return {"alg": "RS256", "kid": kid}

    def signing_key(self, key: RSAKey) -> RSAKey:
        if self.scenario in ("id_token_bad_signature", "id_token_unknown_kid"):
            # A fresh key nobody publishes: what a forger would sign with.
            return RSAKey.generate_key(2048, parameters={"alg": "RS256"}, private=True)
        return key

    def claims(self, claims: dict) -> dict:
        now = int(time.time())
        if self.scenario == "id_token_wrong_iss":
            claims["iss"] = claims["iss"] + "-wrong-issuer"
        elif self.scenario == "id_token_wrong_aud":
            claims["aud"] = ["qa-some-other-client"]
        elif self.scenario == "id_token_expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.scenario == "id_token_iat_future":
            claims["iat"], claims["exp"] = now + 3600, now + 7200
        elif self.scenario == "id_token_nonce_missing":
            claims.pop("nonce", None)
        elif self.scenario == "id_token_nonce_wrong":
            claims["nonce"] = "qa-wrong-nonce-" + secrets.token_urlsafe(8)
        elif self.scenario == "id_token_mcid_missing":
            claims.pop("mcid", None)
        return claims

    def encode(self, header: dict, claims: dict, key: RSAKey) -> str:
        if header["alg"] != "none":
            return jwt.encode(header, claims, self.signing_key(key), [header["alg"]])
        with warnings.catch_warnings():  # joserfc warns of "none": the scenario asks for it
            warnings.simplefilter("ignore", SecurityWarning)
            return jwt.encode(header, claims, None, ["none"])


NO_FAULT = FaultPlan()


def id_token_plan(issuer: str, client_id: str, user: Account, access_token: str | None,
                  code: AuthorizationCode | None) -> FaultPlan:
    """The fault plan of the ID token issued now for ``code``'s flow."""
    if "id_token" not in armed_stages(issuer):
        return NO_FAULT
    token_id = None
    if access_token:
        token_id = db.session.scalar(
            db.select(Token.id).where(Token.issuer == issuer, Token.access_token == access_token))
    scenario = claim_scenario(issuer, "id_token", client_id, user.email, token_id=token_id,
                              panel_id=code.qa_panel_id if code is not None else None)
    return FaultPlan(scenario.name) if scenario else NO_FAULT


def userinfo_claims(issuer: str, claims: dict, token: Token | None, user: Account) -> dict:
    """The userinfo answer: a flow's id_token fault that also shapes userinfo, then any
    ``userinfo`` scenario."""
    if token is not None:
        carried = db.session.scalar(
            db.select(FaultScenario.name)
            .join(FaultHit, FaultHit.scenario_id == FaultScenario.id)
            .where(FaultHit.token_id == token.id, FaultHit.issuer == issuer).limit(1))
        if carried == "id_token_mcid_missing":
            claims.pop("mcid", None)
    if "userinfo" not in armed_stages(issuer):
        return claims
    panel_id = None
    if token is not None and token.authorization_code_id:
        panel_id = db.session.scalar(db.select(AuthorizationCode.qa_panel_id).where(
            AuthorizationCode.id == token.authorization_code_id))
    scenario = claim_scenario(issuer, "userinfo", token.client_id if token else None,
                              user.email, panel_id=panel_id)
    if scenario is not None and scenario.name == "userinfo_sub_mismatch":
        claims["sub"] = new_subject()
    return claims
