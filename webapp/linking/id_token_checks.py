"""The id_token checks of the linking flow's callback, one named function per check.

validate_id_token runs them in order; each records its result in the flow trace (the flow
inspector's "Signing algorithm check", "Signature check", "Claim check: ...") and raises a
FlowError naming the check when it fails:

1. decode_unverified   the token is three base64url JSON segments
2. check_alg           the algorithm is advertised by the provider AND asymmetric
3. check_signature     signed by a key the provider publishes (kid, JWKS refetch on rotation)
4. check_single_strings iss, sub, nonce, azp, at_hash are single strings, not lists
5. check_claims        iss, sub, aud, azp, exp, iat, nbf, nonce, at_hash (OpenID Connect Core 3.1.3.7)
"""
from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone

import requests
from authlib.oidc.core import CodeIDToken
from authlib.oidc.core.util import create_half_hash
from flask import current_app
from flask_babel import gettext as _
from joserfc import jwt
from joserfc.errors import JoseError as JoserfcError, MissingClaimError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry, Token

from ..traces.recorder import Trace
from .backchannel import BackChannelLimit
from .flow_errors import FlowError, could_not_load, limit_error, limit_problem
from .oidc import client_for, redact
from .rules import provider_label

# Asymmetric algorithms only: an HS256 token "signed" with our client secret or with
# the provider's public key must never pass.
ALLOWED_ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "ES256")
# Checked in this order, each one traced as check_<name>.
CLAIMS_CHECKED = ("iss", "sub", "aud", "azp", "exp", "iat", "nbf", "nonce", "at_hash")


def validate_id_token(provider: str, token: dict, nonce: str, trace: Trace) -> dict:
    """Verify signature and every claim, recording each check; return the claims."""
    client = client_for(provider)
    metadata = client.load_server_metadata()
    raw = token["id_token"]
    header = decode_unverified(provider, raw, trace)
    algorithms = check_alg(provider, header, metadata, trace)
    decoded = check_signature(provider, client, raw, header, algorithms, trace)
    claims = dict(decoded.claims)
    check_single_strings(provider, claims, trace)
    check_claims(provider, decoded, claims, issuer=metadata.get("issuer"), client_id=client.client_id,
                 nonce=nonce, access_token=token.get("access_token"), trace=trace)
    return claims


def _decode_segment(segment: str) -> dict:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode()))


def decode_unverified(provider: str, raw: str, trace: Trace) -> dict:
    """The header (returned) and the claims, unverified, for the trace; malformed is refused."""
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
    return header


def check_alg(provider: str, header: dict, metadata: dict, trace: Trace) -> list[str]:
    """The algorithms accepted for this provider (returned); the token's must be one of them."""
    advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in advertised if a in ALLOWED_ID_TOKEN_ALGS]
    alg_ok = header.get("alg") in algorithms
    trace.add("check_alg", alg_ok, alg=header.get("alg"), allowed=algorithms)
    if not alg_ok:
        raise FlowError("id_token_alg", _(
            "The ID token from %(provider)s uses a signing algorithm we do not accept (%(alg)s). "
            "Nothing was linked; please try again or contact your administrator.",
            provider=provider_label(provider), alg=header.get("alg")))
    return algorithms


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


def check_signature(provider: str, client, raw: str, header: dict, algorithms: list[str],
                    trace: Trace) -> Token:
    """The token verified with the provider's published key it names (the JWKS fetched again,
    rate-limited, when the kid is unknown: key rotation)."""
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
        decoded = jwt.decode(raw, keys, algorithms=algorithms,
                             registry=JWSRegistry(algorithms=algorithms))
    except BackChannelLimit as exc:
        trace.add("check_signature", False, error=limit_problem(exc))
        raise limit_error(provider, "jwks", exc)
    except requests.RequestException as exc:
        trace.add("check_signature", False, error=type(exc).__name__)
        raise FlowError("jwks_unavailable", could_not_load(provider, "jwks"), transient=True)
    except (ValueError, TypeError, KeyError, AttributeError, RuntimeError) as exc:
        # A garbage JWKS document, or a key joserfc cannot use for this token.
        trace.add("check_signature", False, error=type(exc).__name__)
        raise FlowError("id_token_signature", _signature_error(provider))
    except JoserfcError as exc:
        trace.add("check_signature", False, error=getattr(exc, "error", type(exc).__name__),
                  kid=kid)
        raise FlowError("id_token_signature", _signature_error(provider))
    trace.add("check_signature", True, kid=kid)
    return decoded


def check_single_strings(provider: str, claims: dict, trace: Trace) -> None:
    """joserfc accepts a list that *contains* the expected value; these claims are single strings."""
    for name in ("iss", "sub", "nonce", "azp", "at_hash"):
        if name in claims and not isinstance(claims[name], str):
            trace.add(f"check_{name}", False, error="not_a_string")
            raise FlowError(f"id_token_{name}", _(
                "The ID token from %(provider)s failed the %(check)s check (%(detail)s). "
                "Nothing was linked; please try again or contact your administrator.",
                provider=provider_label(provider), check=name, detail=_("not a single text value")))


def check_claims(provider: str, decoded: Token, claims: dict, *, issuer: str, client_id: str,
                 nonce: str, access_token: str | None, trace: Trace) -> None:
    """Each claim of CLAIMS_CHECKED against what this flow expects, traced one by one."""
    # Authlib/joserfc leave aud unchecked unless told: our client id must be in it.
    registry = JWTClaimsRegistry(
        now=int(time.time()), leeway=current_app.config["OIDC_LEEWAY"],
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    oidc_claims = CodeIDToken(claims, decoded.header, {},
                              {"nonce": nonce, "client_id": client_id, "access_token": access_token})
    for name in CLAIMS_CHECKED:
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
            expected, actual = expected_and_actual(name, claims, issuer=issuer, client_id=client_id,
                                                   nonce=nonce, access_token=access_token,
                                                   alg=decoded.header.get("alg", "RS256"))
            trace.add(f"check_{name}", False, error=exc.error, description=str(exc),
                      expected=expected, actual=actual)
            raise FlowError(f"id_token_{name}", _(
                "The ID token from %(provider)s failed the %(check)s check: expected %(expected)s, "
                "got %(actual)s. Nothing was linked; please try again or contact your administrator.",
                provider=provider_label(provider), check=name, expected=expected, actual=actual))
        trace.add(f"check_{name}", True)


def _utc(timestamp) -> str:
    try:
        return datetime.fromtimestamp(int(timestamp), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return repr(timestamp)


def expected_and_actual(name: str, claims: dict, *, issuer: str, client_id: str, nonce: str,
                        access_token: str | None, alg: str = "RS256") -> tuple[str, str]:
    """What the failed claim check wanted and what the token had, for the message and the trace.

    The nonce and at_hash are tied to this session's secrets: only their first characters show.
    """
    value = claims.get(name)
    if value is None:
        actual = _("no %(claim)s claim", claim=name)
    elif name in ("exp", "iat", "nbf"):
        actual = _utc(value)
    elif name in ("nonce", "at_hash"):
        actual = redact(value)
    elif isinstance(value, list):
        actual = ", ".join(str(v) for v in value)
    else:
        actual = str(value)
    now = _utc(time.time())
    if name == "iss":
        expected = issuer
    elif name in ("aud", "azp"):
        expected = client_id
    elif name == "nonce":
        expected = redact(nonce)
    elif name == "at_hash":
        expected = redact(create_half_hash(access_token, alg).decode()) if access_token else _("no access token")
    elif name == "exp":
        expected = _("a time after %(now)s", now=now)
    elif name in ("iat", "nbf"):
        expected = _("a time before %(now)s", now=now)
    else:
        expected = _("a %(claim)s claim", claim=name)
    return expected, actual
