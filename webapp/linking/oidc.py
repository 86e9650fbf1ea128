"""The relying-party side of the linking flow: the Authlib clients and each hop, traced.

Authlib does the protocol work (authorization URL with PKCE, state and nonce, the code
exchange, JWKS fetching, JWT signature verification with joserfc, claim validators).
This module calls those pieces one by one instead of ``authorize_access_token`` so each
hop lands in the flow trace with its result; the id_token checks are id_token_checks.py.
Discovery (and the JWKS Authlib keeps in it) is cached per process, OIDC_METADATA_MAX_AGE.
"""
from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from authlib.integrations.flask_client.apps import FlaskOAuth2App
from flask import current_app, session
from flask_babel import get_locale, gettext as _, ngettext

from ..models import LEARN, PARTNER_UNIVERSITY
from ..traces.recorder import Trace
from .backchannel import BackChannelLimit, BackChannelSession, ResponseTooLarge
from .flow_errors import FlowError, could_not_load, limit_error, limit_problem, token_endpoint_failed
from .provider_settings import check_provider_settings, token_auth_method
from .rules import PersonalAccount, provider_label

# Registry names (Python identifiers) for the two providers, and their config prefixes.
CLIENT_NAMES = {LEARN: "learn", PARTNER_UNIVERSITY: "partner_university"}
CONFIG_PREFIX = {LEARN: "LEARN", PARTNER_UNIVERSITY: "PARTNER_UNIVERSITY"}
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

    def _get_oauth_client(self, **metadata):
        # Authlib passes the whole discovery document to the session after our own settings: a
        # document naming "code_challenge_method" or "token_endpoint_auth_method" would override
        # them. Ours win; the authentication method comes from configuration or discovery.
        ours = set(self.client_kwargs) | {"token_endpoint_auth_method"}
        metadata = {k: v for k, v in metadata.items() if k not in ours}
        configured = current_app.config.get(f"{self.name.upper()}_TOKEN_ENDPOINT_AUTH_METHOD")
        method = token_auth_method(configured, metadata) or "client_secret_basic"
        return super()._get_oauth_client(token_endpoint_auth_method=method, **metadata)


class RequestIdOAuth(OAuth):
    oauth2_client_cls = RequestIdOAuthApp


def init_oauth(app) -> None:
    """One Authlib registry per app, so several apps (tests) never share cached clients."""
    check_provider_settings(app.config, CONFIG_PREFIX.values())
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


def auth_method_for(provider: str, metadata: dict) -> str | None:
    """How the webapp authenticates at this provider's token endpoint (None: no way it can)."""
    return token_auth_method(
        current_app.config.get(f"{CONFIG_PREFIX[provider]}_TOKEN_ENDPOINT_AUTH_METHOD"), metadata)


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
        raise FlowError("discovery_unreachable", could_not_load(provider, "discovery"),
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
    method = auth_method_for(provider, metadata)
    trace.add("token_auth_method", method is not None, method=method,
              advertised=metadata.get("token_endpoint_auth_methods_supported"))
    if method is None:
        client.server_metadata = {}
        raise FlowError("token_auth_method_unsupported", _(
            "%(provider)s accepts none of the client authentication methods Partner Center uses "
            "(client_secret_basic, client_secret_post). Nothing was linked; contact your "
            "administrator.", provider=provider_label(provider)))
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


def build_authorization(provider: str, redirect_uri: str, trace: Trace, login_hint: str | None = None,
                        **bind) -> tuple[str, str]:
    """Create the authorization request (PKCE S256, state, nonce) and remember it in the session.

    ``login_hint`` (OIDC Core 3.1.2.1) pre-fills the provider's sign-in with an email; ``bind`` is
    stored with the state (the work user and trace that started the flow).
    """
    load_metadata(provider, trace)
    client = client_for(provider)
    _trim_pending_flows(client)
    # ui_locales (OIDC Core 3.1.2.1): the provider's pages open in the user's Partner Center language.
    extra = {"login_hint": login_hint} if login_hint else {}
    rv = client.create_authorization_url(redirect_uri, ui_locales=str(get_locale()).replace("_", "-"),
                                         **extra)
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


def exchange_code(provider: str, code: str, state_data: dict, trace: Trace) -> dict:
    client = client_for(provider)
    metadata = client.load_server_metadata()
    trace.add("token_request", None, url=metadata.get("token_endpoint"),
              parameters=redact_mapping({"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": state_data.get("redirect_uri"),
                                         "code_verifier": state_data.get("code_verifier"),
                                         "client_id": client.client_id,
                                         "client_secret": client.client_secret}),
              client_authentication=auth_method_for(provider, metadata))
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
        raise FlowError(f"token_error:{exc.error}", token_endpoint_failed(provider, exc.error),
                        transient=True)
    except BackChannelLimit as exc:
        trace.add("token_response", False, error=limit_problem(exc),
                  elapsed_ms=round((time.monotonic() - started) * 1000))
        if isinstance(exc, ResponseTooLarge):
            raise limit_error(provider, "token", exc)
        raise FlowError("token_timeout", ngettext(
            "%(provider)s's token endpoint did not answer within %(seconds)s second. Nothing was "
            "linked; please try again in a moment.",
            "%(provider)s's token endpoint did not answer within %(seconds)s seconds. Nothing was "
            "linked; please try again in a moment.", exc.seconds, provider=provider_label(provider),
            seconds=f"{exc.seconds:g}"), transient=True)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        trace.add("token_response", False, error="http_error", status=status,
                  elapsed_ms=round((time.monotonic() - started) * 1000))
        raise FlowError("token_http_error", token_endpoint_failed(provider, f"HTTP {status}"),
                        transient=True)
    except (requests.RequestException, ValueError, TypeError, KeyError, AttributeError) as exc:
        # Down, cut off, or garbage (HTML, a JSON list, a bare string): the same retry message.
        trace.add("token_response", False, error=type(exc).__name__,
                  elapsed_ms=round((time.monotonic() - started) * 1000))
        raise FlowError("token_unavailable", token_endpoint_failed(provider, type(exc).__name__),
                        transient=True)
    if not isinstance(token, dict):
        trace.add("token_response", False, error="not_a_json_object")
        raise FlowError("token_unavailable", token_endpoint_failed(provider, "not a JSON object"),
                        transient=True)
    # Authlib hashes access_token (at_hash) and reads token_type.lower(): anything but a
    # string there used to end the flow as an internal error.
    for name in ("access_token", "token_type"):
        if not isinstance(token.get(name), str) or not token.get(name):
            trace.add("token_response", False, error=f"{name}_not_a_string",
                      elapsed_ms=round((time.monotonic() - started) * 1000))
            raise FlowError(f"token_{name}", token_endpoint_failed(
                provider, f"{name} is not a text value"), transient=True)
    trace.add("token_response", True, body=redact_mapping(dict(token)),
              elapsed_ms=round((time.monotonic() - started) * 1000))
    if not token.get("id_token") or not isinstance(token.get("id_token"), str):
        raise FlowError("id_token_missing", _(
            "%(provider)s did not return an ID token. Nothing was linked.",
            provider=provider_label(provider)))
    return token


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


def personal_account_from(provider: str, claims: dict, userinfo: dict,
                          account_type_when_absent: str = "refuse") -> PersonalAccount:
    """The claims Partner Center reads (docs/flow.md, "Claims"); the ID token's win over userinfo's.

    Without an ``account_type`` claim the account type is None (the Learn rules refuse it) unless
    ``account_type_when_absent`` is "personal"."""
    merged = {**userinfo, **claims}
    account_type = merged.get("account_type")
    if account_type is None or account_type == "":
        account_type = "personal" if account_type_when_absent == "personal" else None
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
        account_type=None if account_type is None else str(account_type)[:40],
        mcid=mcid,
    )


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
