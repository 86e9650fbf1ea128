"""Security headers and the Content-Security-Policy of both apps."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from flask import Flask, request


def origins(urls: Iterable[str]) -> list[str]:
    """The http(s) origins of ``urls``, each once, in order."""
    found = []
    for url in urls:
        parts = urlsplit(url or "")
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https") and parts.netloc and origin not in found:
            found.append(origin)
    return found


def content_security_policy(form_action_origins: Iterable[str]) -> str:
    """No inline script or style; forms may only end up here or at ``form_action_origins``.

    Browsers check form-action on every redirect that follows a form submission too (CSP3
    "navigation request" check): the webapp's "Associate" posts here, then 302s to a provider;
    a provider's consent posts to /authorize, which redirects to the client's redirect_uri.
    """
    form_action = " ".join(["'self'", *form_action_origins])
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
            f"form-action {form_action}")


def init_security_headers(app: Flask, form_action_origins: Callable[[], Iterable[str]],
                          no_store_endpoints: Iterable[str] = ()) -> None:
    """Headers of every response; the CSP on pages, with the origins a form may end up at
    (asked per page: a provider's clients can be added at run time)."""
    no_store = frozenset(no_store_endpoints)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy",
                                        content_security_policy(form_action_origins()))
        if request.endpoint in no_store:
            response.headers["Cache-Control"] = "no-store"
        return response
