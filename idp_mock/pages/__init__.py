"""The providers' own pages: the issuer list, sign-in, sign-up and the account pages."""
from __future__ import annotations

from flask import Blueprint

from ..issuers import issuer_blueprint

bp = issuer_blueprint("pages", __name__)
#: Pages outside any issuer (the list of issuers at ``/``).
root = Blueprint("root", __name__)

from . import account, sign_in  # noqa: E402,F401  (the routes)
