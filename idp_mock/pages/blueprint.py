"""The pages' blueprints: ``bp`` under ``/<issuer>``, ``root`` for the list of issuers at ``/``."""
from __future__ import annotations

from flask import Blueprint

from ..issuers import issuer_blueprint

bp = issuer_blueprint("pages", __name__)
root = Blueprint("root", __name__)
