"""The issuer in the URL: every provider page and endpoint lives under ``/<issuer>/``.

The "language code in URL" pattern of Flask's documentation: a blueprint mounted at
``/<issuer>`` takes the issuer out of the URL values into ``g.issuer`` (404 for an unknown one)
and puts it back when building URLs of the same issuer.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, g

from .config import ISSUERS


def issuer_blueprint(name: str, import_name: str, url_prefix: str = "") -> Blueprint:
    """A blueprint mounted under ``/<issuer>`` (then ``url_prefix``)."""
    bp = Blueprint(name, import_name, url_prefix="/<issuer>" + url_prefix)

    @bp.url_value_preprocessor
    def pull_issuer(endpoint, values):
        issuer = (values or {}).pop("issuer", None)
        if issuer not in ISSUERS:
            abort(404)
        g.issuer = issuer

    @bp.url_defaults
    def add_issuer(endpoint, values):
        if "issuer" in values or not g.get("issuer"):
            return
        if current_app.url_map.is_endpoint_expecting(endpoint, "issuer"):
            values["issuer"] = g.issuer

    return bp


def issuer_url(issuer: str) -> str:
    return current_app.config["IDP_PUBLIC_URL"].rstrip("/") + "/" + issuer
