"""The provider blueprint, under ``/<issuer>`` (its routes are in this package's modules)."""
from __future__ import annotations

from ..issuers import issuer_blueprint

bp = issuer_blueprint("provider", __name__)
