"""The OpenID Connect endpoints of both issuers, under ``/<issuer>/``: discovery and JWKS,
authorize (with its sign-in and consent pages), token, userinfo, logout, the transcript API."""
from __future__ import annotations

from ..issuers import issuer_blueprint

bp = issuer_blueprint("provider", __name__)

from . import authorize, discovery, logout, token, transcript  # noqa: E402,F401  (the routes)
