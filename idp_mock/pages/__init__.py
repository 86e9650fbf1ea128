"""The providers' own pages: the issuer list, sign-in, sign-up and the account pages."""
from __future__ import annotations

from . import account, sign_in  # noqa: F401  (the routes)
from .blueprint import bp, root

__all__ = ["bp", "root"]
