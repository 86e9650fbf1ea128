"""Per-provider settings of the relying party, checked when the app starts.

Every provider is plain OpenID Connect; what may differ from one to another is configured
(docs/configuration.md): the expected issuer, the client authentication at the token endpoint,
and for Microsoft Learn what a sign-in without an ``account_type`` claim means.
"""
from __future__ import annotations

# Client authentication at the token endpoint that Partner Center can do, in its order of preference
# when configuration names none (private_key_jwt would need a key pair registered at the provider).
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
ACCOUNT_TYPE_WHEN_ABSENT = ("refuse", "personal")


def token_auth_method(configured: str | None, metadata: dict) -> str | None:
    """The configured method, else the first advertised one we support; None when none is.

    A document that advertises nothing means client_secret_basic (OpenID Connect Discovery 3)."""
    if configured:
        return configured
    advertised = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if not isinstance(advertised, list):
        return None
    return next((m for m in advertised if m in TOKEN_AUTH_METHODS), None)


def check_provider_settings(config, prefixes) -> None:
    """A mistyped setting stops the app at start, not the first person who links."""
    for prefix in prefixes:
        method = config.get(f"{prefix}_TOKEN_ENDPOINT_AUTH_METHOD")
        if method and method not in TOKEN_AUTH_METHODS:
            raise ValueError(f"{prefix}_TOKEN_ENDPOINT_AUTH_METHOD must be one of "
                             f"{', '.join(TOKEN_AUTH_METHODS)} (or unset), not {method!r}")
    when_absent = config.get("LEARN_ACCOUNT_TYPE_WHEN_ABSENT")
    if when_absent not in ACCOUNT_TYPE_WHEN_ABSENT:
        raise ValueError("LEARN_ACCOUNT_TYPE_WHEN_ABSENT must be refuse or personal, "
                         f"not {when_absent!r}")
