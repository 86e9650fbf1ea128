"""The relying-party side of the linking flow: Authlib clients plus a traced id_token check.

Authlib does the protocol work (authorization URL with PKCE, state and nonce, the code
exchange, JWKS fetching, JWT signature verification with joserfc, claim validators).
This module calls those pieces one by one instead of ``authorize_access_token`` so each
hop and each check lands in the flow trace with its result.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from authlib.integrations.flask_client.apps import FlaskOAuth2App
from authlib.oidc.core import CodeIDToken
from flask import current_app, session
from flask_babel import get_locale
from joserfc import jwt
from joserfc.errors import JoseError as JoserfcError, MissingClaimError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

from page_catalog import gettext as _

from .backchannel import BackChannelLimit, BackChannelSession, ResponseTooLarge
from .models import LEARN, PARTNER_UNIVERSITY
from .services import PersonalAccount, provider_label, real_now

# Registry names (Python identifiers) for the two providers, and their config prefixes.
CLIENT_NAMES = {LEARN: "learn", PARTNER_UNIVERSITY: "partner_university"}
CONFIG_PREFIX = {LEARN: "LEARN", PARTNER_UNIVERSITY: "PARTNER_UNIVERSITY"}
# Asymmetric algorithms only: an HS256 token "signed" with our client secret or with
# the provider's public key must never pass.
ALLOWED_ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "ES256")
DISCOVERY_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
SECRET_FIELDS = {"code", "access_token", "id_token", "refresh_token", "client_secret",
                 "code_verifier", "password"}
# Long-lived credentials: no prefix either (six characters of a secret shorten a guess, and
# every user who links can open the trace).
HIDDEN_FIELDS = {"client_secret", "password"}
HIDDEN = "…"


class RequestIdOAuthApp(FlaskOAuth2App):
    # Discovery, JWKS, token and userinfo: the request id, a total deadline and a size cap.
    client_cls = BackChannelSession


class RequestIdOAuth(OAuth):
    oauth2_client_cls = RequestIdOAuthApp


def init_oauth(app) -> None:
    """One Authlib registry per app, so several apps (tests) never share cached clients."""
    registry = RequestIdOAuth(app)
    for provider, name in CLIENT_NAMES.items():
        prefix = CONFIG_PREFIX[provider]
        registry.register(
            name=name,
            client_id=app.config[f"{prefix}_CLIENT_ID"],
            client_secret=app.config[f"{prefix}_CLIENT_SECRET"],
            server_metadata_url=app.config[f"{prefix}_OIDC_DISCOVERY_URL"],
            client_kwargs={
                "scope": app.config["OIDC_SCOPE"],
                "code_challenge_method": "S256",
                "default_timeout": app.config["OIDC_HTTP_TIMEOUT"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
    app.extensions["learnlink_oauth"] = registry


def client_for(provider: str):
    client = current_app.extensions["learnlink_oauth"].create_client(CLIENT_NAMES[provider])
    client.framework.expires_in = current_app.config["OIDC_STATE_LIFETIME"]
    return client


def redact(value) -> str:
    """Enough of a secret to correlate hops, never enough to use it."""
    if value is None:
        return ""
    text = str(value)
    return text[:6] + "…" if len(text) > 6 else "…"


def redact_mapping(data: dict) -> dict:
    return {k: (HIDDEN if k in HIDDEN_FIELDS else redact(v) if k in SECRET_FIELDS else v)
            for k, v in (data or {}).items()}


def expected_issuer(provider: str) -> str:
    configured = current_app.config.get(f"{CONFIG_PREFIX[provider]}_ISSUER")
    if configured:
        return configured
    url = current_app.config[f"{CONFIG_PREFIX[provider]}_OIDC_DISCOVERY_URL"]
    return url.split("/.well-known/")[0]


class FlowError(Exception):
    """A failed hop. ``message`` is for the user; ``check`` names what failed, for QA."""

    def __init__(self, check: str, message: str, transient: bool = False, outcome: str = "failed"):
        super().__init__(message)
        self.check = check
        self.message = message
        self.transient = transient
        self.outcome = outcome


@dataclass
class Trace:
    steps: list = field(default_factory=list)

    def add(self, step: str, ok: bool | None = None, **detail) -> None:
        self.steps.append({"at": real_now().isoformat(timespec="milliseconds") + "Z",
                           "step": step, "ok": ok, "detail": detail})


def _could_not_load(provider: str, what: str) -> str:
    """A transient failure to fetch a provider document, naming which one."""
    if what == "discovery":
        return _("%(provider)s's discovery document could not be loaded. Nothing was linked; "
                 "please try again in a moment.", provider=provider_label(provider))
    return _("%(provider)s's signing keys (JWKS) could not be loaded. Nothing was linked; "
             "please try again in a moment.", provider=provider_label(provider))


def limit_problem(exc: BackChannelLimit) -> str:
    """How a limit shows in the trace."""
    return "too_large" if isinstance(exc, ResponseTooLarge) else "timeout"


def limit_error(provider: str, what: str, exc: BackChannelLimit) -> FlowError:
    """A back-channel call past its deadline or size cap: the same clear message for every
    call, the check named after the call (``token_timeout``, ``jwks_too_large``...)."""
    label = provider_label(provider)
    if isinstance(exc, ResponseTooLarge):
        return FlowError(f"{what}_too_large", _(
            "%(provider)s sent an answer too large (%(what)s, over %(size)s KiB). Nothing was "
            "linked; please try again later or contact your administrator.", provider=label,
            what=what, size=exc.max_bytes // 1024), transient=True)
    return FlowError(f"{what}_timeout", _(
        "%(provider)s did not answer in time (%(what)s, %(seconds)s seconds). Nothing was "
        "linked; please try again in a moment.", provider=label, what=what,
        seconds=f"{exc.seconds:g}"), transient=True)


def _token_endpoint_failed(provider: str, problem: str) -> str:
    """A transient token endpoint failure, naming what went wrong."""
    return _("%(provider)s's token endpoint failed (%(problem)s). Nothing was linked; "
             "please try again in a moment.", provider=provider_label(provider), problem=problem)


def load_metadata(provider: str, trace: Trace) -> dict:
    client = client_for(provider)
    # Authlib keeps discovery (and the JWKS stored in it) for the life of the process;
    # they expire here so a provider's new endpoints or keys are picked up without a restart.
    loaded_at = client.server_metadata.get("_loaded_at")
    if loaded_at is not None and time.time() - loaded_at > current_app.config["OIDC_METADATA_MAX_AGE"]:
        client.server_metadata = {}
    try:
        metadata = client.load_server_metadata()
        if not isinstance(metadata.get("issuer", ""), str):
            raise ValueError("issuer is not a string")
    except BackChannelLimit as exc:
        client.server_metadata = {}
        trace.add("discovery", False, error=limit_problem(exc))
        raise limit_error(provider, "discovery", exc)
    except (requests.RequestException, ValueError, TypeError, AttributeError) as exc:
        # Garbage (HTML, a JSON list...) counts as unreachable; nothing stays cached.
        client.server_metadata = {}
        trace.add("discovery", False, error=type(exc).__name__)
        raise FlowError("discovery_unreachable", _could_not_load(provider, "discovery"),
                        transient=True)
    issuer = expected_issuer(provider)
    ok = metadata.get("issuer") == issuer
    trace.add("discovery", ok, url=current_app.config[f"{CONFIG_PREFIX[provider]}_OIDC_DISCOVERY_URL"],
              issuer=metadata.get("issuer"), expected_issuer=issuer,
              endpoints={name: metadata.get(name) for name in DISCOVERY_ENDPOINTS})
    if not ok:
        # Do not keep a bad document cached: the next attempt fetches again.
        client.server_metadata = {}
        raise FlowError("discovery_issuer_mismatch", _(
            "%(provider)s's discovery document names a different issuer than the one configured. "
            "Nothing was linked; contact your administrator.", provider=provider_label(provider)))
    return metadata


# Flows started but never finished stay in the (cookie) session until they expire; without a
# cap, pressing "Associate" twenty times grows the cookie past the 4 KB browsers keep, and the
# person is silently signed out. Keep the newest few per provider.
MAX_PENDING_FLOWS = 3


def _trim_pending_flows(client) -> None:
    prefix = f"_state_{client.name}_"
    pending = sorted((k for k in session if k.startswith(prefix)),
                     key=lambda k: (session[k] or {}).get("exp") or 0)
    for key in pending[:max(0, len(pending) - (MAX_PENDING_FLOWS - 1))]:
        session.pop(key, None)


def build_authorization(provider: str, redirect_uri: str, trace: Trace, **bind) -> tuple[str, str]:
    """Create the authorization request (PKCE S256, state, nonce) and remember it in the session.

    ``bind`` is stored with the state (the work user and trace that started the flow).
    """
    load_metadata(provider, trace)
    client = client_for(provider)
    _trim_pending_flows(client)
    # ui_locales (OIDC Core 3.1.2.1): the provider's pages open in the user's Partner Center language.
    rv = client.create_authorization_url(redirect_uri, ui_locales=str(get_locale()).replace("_", "-"))
    client.save_authorize_data(redirect_uri=redirect_uri, **rv, **bind)
    parts = urlsplit(rv["url"])
    params = dict(parse_qsl(parts.query))
    trace.add("authorization_request", True,
              url=f"{parts.scheme}://{parts.netloc}{parts.path}",
              parameters=redact_mapping({**params, "state": params.get("state"),
                                         "nonce": params.get("nonce")}),
              code_challenge_method=params.get("code_challenge_method"))
    return rv["url"], rv["state"]


def pop_state_data(provider: str, state: str | None) -> dict | None:
    """Single use: the state entry is removed from the session whatever happens next."""
    if not state:
        return None
    client = client_for(provider)
    entry = session.get(f"_state_{client.name}_{state}") or {}
    data = client.framework.get_state_data(session, state)
    client.framework.clear_state_data(session, state)
    # Authlib stores an expiry with the state but does not check it when reading: an answer
    # after the state's lifetime belongs to an attempt closed as abandoned.
    if not isinstance(entry, dict) or (entry.get("exp") or 0) < time.time():
        return None
    return data


def _decode_segment(segment: str) -> dict:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode()))


def exchange_code(provider: str, code: str, state_data: dict, trace: Trace) -> dict:
    client = client_for(provider)
    metadata = client.load_server_metadata()
    trace.add("token_request", None, url=metadata.get("token_endpoint"),
              parameters=redact_mapping({"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": state_data.get("redirect_uri"),
                                         "code_verifier": state_data.get("code_verifier"),
                                         "client_id": client.client_id,
                                         "client_secret": client.client_secret}),
              client_authentication="client_secret_basic")
    started = time.monotonic()
    try:
        token = client.fetch_access_token(
            redirect_uri=state_data.get("redirect_uri"), code=code,
            code_verifier=state_data.get("code_verifier"))
    except OAuthError as exc:
        trace.add("token_response", False, error=exc.error, description=exc.description,
                  elapsed_ms=round((time.monotonic() - started) * 1000))
        if exc.error == "invalid_grant":
            raise FlowError("token_invalid_grant", _(
                "%(provider)s's token endpoint refused the authorization code (invalid_grant: it "
                "may have expired or been used already). Nothing was linked; please start again.",
                provider=provider_label(provider)))
        raise FlowError(f"token_error:{exc.error}", _token_endpoint_failed(provider, exc.error),
                        transient=True)
    except BackChannelLimit as exc:
        trace.add("token_response", False, error=limit_problem(exc),
                  elapsed_ms=round((time.monotonic() - started) * 1000))
        if isinstance(exc, ResponseTooLarge):
            raise limit_error(provider, "token", exc)
        raise FlowError("token_timeout", _(
            "%(provider)s's token endpoint did not answer within %(seconds)s seconds. Nothing was "
            "linked; please try again in a moment.", provider=provider_label(provider),
            seconds=f"{exc.seconds:g}"), transient=True)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        trace.add("token_response", False, error="http_error", status=status,
                  elapsed_ms=round((time.monotonic() - started) * 1000))
        raise FlowError("token_http_error", _token_endpoint_failed(provider, f"HTTP {status}"),
                        transient=True)
    except (requests.RequestException, ValueError, TypeError, KeyError, AttributeError) as exc:
        # Down, cut off, or garbage (HTML, a JSON list, a bare string): the same retry message.
        trace.add("token_response", False, error=type(exc).__name__,
                  elapsed_ms=round((time.monotonic() - started) * 1000))
        raise FlowError("token_unavailable", _token_endpoint_failed(provider, type(exc).__name__),
                        transient=True)
    if not isinstance(token, dict):
        trace.add("token_response", False, error="not_a_json_object")
        raise FlowError("token_unavailable", _token_endpoint_failed(provider, "not a JSON object"),
                        transient=True)
    # Authlib hashes access_token (at_hash) and reads token_type.lower(): anything but a
    # string there used to end the flow as an internal error.
    for name in ("access_token", "token_type"):
        if not isinstance(token.get(name), str) or not token.get(name):
            trace.add("token_response", False, error=f"{name}_not_a_string",
                      elapsed_ms=round((time.monotonic() - started) * 1000))
            raise FlowError(f"token_{name}", _token_endpoint_failed(
                provider, f"{name} is not a text value"), transient=True)
    trace.add("token_response", True, body=redact_mapping(dict(token)),
              elapsed_ms=round((time.monotonic() - started) * 1000))
    if not token.get("id_token") or not isinstance(token.get("id_token"), str):
        raise FlowError("id_token_missing", _(
            "%(provider)s did not return an ID token. Nothing was linked.",
            provider=provider_label(provider)))
    return token


def _key_set(client, force: bool = False) -> KeySet:
    return KeySet.import_key_set(client.fetch_jwk_set(force=force))


def _jwks_refetch_allowed(provider: str) -> bool:
    """At most one forced JWKS fetch per provider per interval (and per process).

    A token naming an unknown ``kid`` costs us a request to the provider; without a limit
    anyone able to reach the callback with crafted tokens could make us hammer it.
    """
    last = current_app.extensions.setdefault("learnlink_jwks_refetch", {})
    interval = current_app.config.get("OIDC_JWKS_REFETCH_INTERVAL", 60)
    at = time.monotonic()
    if provider in last and at - last[provider] < interval:
        return False
    last[provider] = at
    return True


def _signature_error(provider: str) -> str:
    return _("The ID token from %(provider)s has an invalid signature. Nothing was linked; "
             "please try again or contact your administrator.", provider=provider_label(provider))


def _string_claim_error(provider: str, name: str) -> FlowError:
    return FlowError(f"id_token_{name}", _(
        "The ID token from %(provider)s failed the %(check)s check (%(detail)s). "
        "Nothing was linked; please try again or contact your administrator.",
        provider=provider_label(provider), check=name, detail=_("not a single text value")))


def validate_id_token(provider: str, token: dict, nonce: str, trace: Trace) -> dict:
    """Verify signature and every claim, recording each check; return the claims."""
    client = client_for(provider)
    metadata = client.load_server_metadata()
    raw = token["id_token"]
    try:
        header = _decode_segment(raw.split(".")[0])
        unverified = _decode_segment(raw.split(".")[1])
        if not isinstance(header, dict) or not isinstance(unverified, dict):
            raise ValueError("not a JSON object")
    except (ValueError, IndexError, TypeError):
        trace.add("id_token_decode", False)
        raise FlowError("id_token_malformed", _("The ID token from %(provider)s is malformed. "
                        "Nothing was linked.", provider=provider_label(provider)))
    trace.add("id_token_decoded", None, header=header, claims=unverified)

    advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in advertised if a in ALLOWED_ID_TOKEN_ALGS]
    alg_ok = header.get("alg") in algorithms
    trace.add("check_alg", alg_ok, alg=header.get("alg"), allowed=algorithms)
    if not alg_ok:
        raise FlowError("id_token_alg", _(
            "The ID token from %(provider)s uses a signing algorithm we do not accept (%(alg)s). "
            "Nothing was linked; please try again or contact your administrator.",
            provider=provider_label(provider), alg=header.get("alg")))

    registry = JWSRegistry(algorithms=algorithms)
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        trace.add("check_signature", False, error="kid is not a string")
        raise FlowError("id_token_signature", _signature_error(provider))
    try:
        keys = _key_set(client)
        if kid and not any(k.kid == kid for k in keys.keys):
            # Key rotation: fetch the JWKS again, once in this flow and at most once per
            # interval, before giving up on an unknown kid.
            refetched = _jwks_refetch_allowed(provider)
            if refetched:
                keys = _key_set(client, force=True)
            known = any(k.kid == kid for k in keys.keys)
            trace.add("jwks_refetch", known, kid=kid,
                      **({} if refetched else {"reason": "rate_limited"}))
            if not known:
                trace.add("check_signature", False, error="unknown_kid", kid=kid)
                raise FlowError("id_token_kid", _(
                    "The ID token from %(provider)s is signed with a key (kid %(kid)s) that "
                    "%(provider)s does not publish. Nothing was linked; please try again or "
                    "contact your administrator.", provider=provider_label(provider), kid=kid))
        if not kid and len(keys.keys) != 1:
            # OpenID Connect Core 10.1: with several keys published the token must name one.
            # Trying each key in turn would accept a token signed by any of them, for any use.
            trace.add("check_signature", False, error="kid_missing", keys=len(keys.keys))
            raise FlowError("id_token_kid_missing", _(
                "The ID token from %(provider)s does not name its signing key and the provider "
                "publishes several keys. Nothing was linked.", provider=provider_label(provider)))
        decoded = jwt.decode(raw, keys, algorithms=algorithms, registry=registry)
    except BackChannelLimit as exc:
        trace.add("check_signature", False, error=limit_problem(exc))
        raise limit_error(provider, "jwks", exc)
    except requests.RequestException as exc:
        trace.add("check_signature", False, error=type(exc).__name__)
        raise FlowError("jwks_unavailable", _could_not_load(provider, "jwks"), transient=True)
    except (ValueError, TypeError, KeyError, AttributeError, RuntimeError) as exc:
        # A garbage JWKS document, or a key joserfc cannot use for this token.
        trace.add("check_signature", False, error=type(exc).__name__)
        raise FlowError("id_token_signature", _signature_error(provider))
    except JoserfcError as exc:
        trace.add("check_signature", False, error=getattr(exc, "error", type(exc).__name__),
                  kid=kid)
        raise FlowError("id_token_signature", _signature_error(provider))
    trace.add("check_signature", True, kid=kid)

    issuer = metadata.get("issuer")
    claims = dict(decoded.claims)
    # Authlib/joserfc leave aud unchecked unless told: our client id must be in it.
    registry = JWTClaimsRegistry(
        now=int(time.time()), leeway=current_app.config["OIDC_LEEWAY"],
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        aud={"essential": True, "value": client.client_id},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    # joserfc accepts a list that *contains* the expected value; these claims are single strings.
    for name in ("iss", "sub", "nonce", "azp", "at_hash"):
        if name in claims and not isinstance(claims[name], str):
            trace.add(f"check_{name}", False, error="not_a_string")
            raise _string_claim_error(provider, name)
    oidc_claims = CodeIDToken(claims, decoded.header, {},
                              {"nonce": nonce, "client_id": client.client_id,
                               "access_token": token.get("access_token")})
    for name in ("iss", "sub", "aud", "azp", "exp", "iat", "nbf", "nonce", "at_hash"):
        try:
            if name == "azp":
                oidc_claims.validate_azp()
            elif name == "at_hash":
                oidc_claims.validate_at_hash()
            elif claims.get(name) is None:
                if name in registry.essential_keys:
                    raise MissingClaimError(name)
            else:
                validator = getattr(registry, f"validate_{name}", None)
                validator(claims[name]) if validator else registry.check_value(name, claims[name])
        except JoserfcError as exc:
            trace.add(f"check_{name}", False, error=exc.error, description=str(exc))
            raise FlowError(f"id_token_{name}", _(
                "The ID token from %(provider)s failed the %(check)s check (%(detail)s). "
                "Nothing was linked; please try again or contact your administrator.",
                provider=provider_label(provider), check=name, detail=str(exc)))
        trace.add(f"check_{name}", True)
    return claims


def fetch_userinfo(provider: str, token: dict, id_claims: dict, trace: Trace) -> dict:
    client = client_for(provider)
    try:
        info = dict(client.userinfo(token=token))
    except BackChannelLimit as exc:
        trace.add("userinfo", False, error=limit_problem(exc))
        raise limit_error(provider, "userinfo", exc)
    except (requests.RequestException, ValueError, TypeError, OAuthError) as exc:
        trace.add("userinfo", False, error=type(exc).__name__)
        raise FlowError("userinfo_unavailable", _(
            "%(provider)s's userinfo endpoint did not answer in time or had a problem. Nothing was "
            "linked; please try again in a moment.", provider=provider_label(provider)),
            transient=True)
    same = info.get("sub") == id_claims.get("sub")
    trace.add("userinfo", same, url=client.load_server_metadata().get("userinfo_endpoint"),
              claims=redact_mapping(info), sub_matches_id_token=same)
    if not same:
        raise FlowError("userinfo_sub_mismatch", _(
            "%(provider)s's userinfo endpoint returned profile data for a different account (sub) "
            "than the one in the ID token. Nothing was linked; please try again or contact your "
            "administrator.", provider=provider_label(provider)))
    return info


# Column sizes of LinkedAccount: identifiers longer than these are refused, display values cut.
MAX_SUBJECT = 255  # OpenID Connect Core 2: sub is at most 255 ASCII characters
MAX_MCID = 32


def personal_account_from(provider: str, claims: dict, userinfo: dict) -> PersonalAccount:
    merged = {**userinfo, **claims}
    subject = str(claims["sub"])
    mcid = str(merged["mcid"]) if merged.get("mcid") else None
    if len(subject) > MAX_SUBJECT or len(claims["iss"]) > 400 or (mcid and len(mcid) > MAX_MCID):
        raise FlowError("identifier_too_long", _(
            "%(provider)s sent an account identifier longer than allowed. Nothing was linked.",
            provider=provider_label(provider)))
    return PersonalAccount(
        provider=provider,
        issuer=claims["iss"],
        subject=subject,
        email=str(merged.get("email") or "")[:254],
        display_name=str(merged.get("name") or merged.get("email") or "")[:200],
        account_type=str(merged.get("account_type") or "personal")[:40],
        mcid=mcid,
    )


def describe_provider_error(provider: str, error: str, description: str | None) -> FlowError:
    label = provider_label(provider)
    if error == "access_denied":
        return FlowError("access_denied", _("You cancelled the sign-in at %(provider)s; nothing was linked.",
                                            provider=label), outcome="cancelled")
    if error == "login_required":
        return FlowError("authorize_login_required", _(
            "%(provider)s asked you to sign in again (login_required). Nothing was linked; start "
            "again and sign in at %(provider)s.", provider=label))
    if error == "consent_required":
        return FlowError("authorize_consent_required", _(
            "%(provider)s needs your consent to share your profile (consent_required). Nothing was "
            "linked; start again and choose Allow at %(provider)s.", provider=label))
    if error in {"temporarily_unavailable", "server_error"}:
        return FlowError(f"authorize_{error}", _(
            "%(provider)s could not complete the sign-in (%(error)s). Nothing was linked; "
            "please try again in a moment.", provider=label, error=error), transient=True)
    return FlowError(f"authorize_{error}", _(
        "%(provider)s refused the sign-in (%(error)s). Nothing was linked; start again and "
        "complete the sign-in at %(provider)s.", provider=label, error=error))


def provider_logout_redirect(provider: str, post_logout_redirect_uri: str):
    """RP-initiated logout: send the browser to the provider's end_session_endpoint.

    Authlib stores the logout ``state`` in the session; the provider sends it back
    to ``post_logout_redirect_uri`` where :func:`finish_provider_logout` checks it."""
    client = client_for(provider)
    try:
        client.load_server_metadata()
        return client.logout_redirect(post_logout_redirect_uri=post_logout_redirect_uri,
                                      client_id=client.client_id)
    except (requests.RequestException, ValueError, RuntimeError):
        client.server_metadata.pop("_loaded_at", None)
        raise FlowError("end_session_unavailable", _(
            "%(provider)s's sign-out page could not be reached. You are still signed in there; "
            "please try again in a moment.", provider=provider_label(provider)), transient=True)


def finish_provider_logout(state: str | None) -> str | None:
    """Validate the ``state`` a provider sent back after sign-out.

    Returns the provider it belongs to, or None when no logout from this session
    carries that state (missing, reused or foreign)."""
    if not state:
        return None
    for provider in CLIENT_NAMES:
        client = client_for(provider)
        if client.framework.get_state_data(session, state) is None:
            continue
        try:
            client.validate_logout_response()
        except OAuthError:
            return None
        return provider
    return None
