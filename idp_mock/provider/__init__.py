"""The OpenID Connect endpoints of both issuers, under ``/<issuer>/``: discovery and JWKS,
authorize (with its sign-in and consent pages), token, userinfo, logout, the transcript API."""
from __future__ import annotations

from . import authorize, discovery, logout, token, transcript  # noqa: F401  (the routes)
from .blueprint import bp

__all__ = ["bp"]
