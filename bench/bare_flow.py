"""The link flow's floor: its twelve hops, doing nothing else, on the same stack.

Each hop of the link flow becomes the same kind of request to a route that does only what any
request of that kind must: the webapp's pages are the signed-in layout with the flow's two
buttons (CSRF inputs), its posts check CSRF and redirect, the start writes the session and the
callback reads it and makes the two back-channel calls (a new ``requests`` session each, as the
OAuth client does); the provider's two pages are its layout with one form, its posts check CSRF,
the first writes its session, the second redirects to the callback; token and userinfo answer a
constant JSON object. Nothing is looked up, signed, checked or recorded.

The apps are the real ones (``create_app`` from the same environment, with every hook: session,
signed-in user, request id, security headers, request log) with these routes added under
``/bare``; gunicorn serves them as ``bench.bare_flow:web_app`` and ``bench.bare_flow:idp_app``.
Measured like the link flow, the ratio is the least a flow of this shape costs here; the link
flow's ratio minus this one is LearnLink's own work (OpenID Connect, the rules, the pages).
"""
from __future__ import annotations

import os
import secrets
from urllib.parse import urlencode

import requests
from flask import Blueprint, jsonify, redirect, render_template, request, session, url_for

PEER_URL = "BENCH_BARE_PEER_URL"  # the other app's base URL (the provider's, the webapp's)

WEB_PAGE = """{% extends "base.html" %}{% block content %}<section class="card">
<form method="post" action="{{ url_for('bare.start') }}">{{ csrf_field() }}<button>Link</button></form>
<form method="post" action="{{ url_for('bare.remove') }}">{{ csrf_field() }}<button>Remove</button></form>
</section>{% endblock %}"""

IDP_PAGE = """{% extends "idp/base.html" %}{% block content %}<section class="idp-card">
<form method="post" action="{{ action }}"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="step" value="{{ step }}"><button>Continue</button></form>
</section>{% endblock %}"""

_apps: dict = {}


def __getattr__(name: str):
    """``web_app`` / ``idp_app`` for gunicorn: each built on first access, in its worker."""
    if name not in ("web_app", "idp_app"):
        raise AttributeError(name)
    if name not in _apps:
        _apps[name] = webapp_with_bare_routes() if name == "web_app" else idp_with_bare_routes()
    return _apps[name]


def webapp_with_bare_routes():
    from flask_login import login_required

    from webapp import create_app

    app = create_app()
    idp_url = os.environ[PEER_URL].rstrip("/")
    page = app.jinja_env.from_string(WEB_PAGE)  # compiled once, as template files are
    bare = Blueprint("bare", __name__, url_prefix="/bare")

    @bare.get("/page")
    @login_required
    def page_view():
        return render_template(page)

    @bare.post("/start")
    @login_required
    def start():
        session["bare_state"] = state = secrets.token_urlsafe(24)
        return redirect(f"{idp_url}/bare/authorize?{urlencode({'state': state})}")

    @bare.get("/callback")
    @login_required
    def callback():
        session.pop("bare_state", None)
        with requests.Session() as http:
            http.post(f"{idp_url}/bare/token", data={"code": request.args.get("code", "")},
                      timeout=10).json()
        with requests.Session() as http:
            http.get(f"{idp_url}/bare/userinfo", timeout=10).json()
        return redirect(url_for("bare.page_view"))

    @bare.post("/remove")
    @login_required
    def remove():
        return redirect(url_for("bare.page_view"))

    app.register_blueprint(bare)
    return app


def idp_with_bare_routes():
    from idp_mock import create_app
    from idp_mock.extensions import csrf

    app = create_app()
    web_url = os.environ[PEER_URL].rstrip("/")
    page = app.jinja_env.from_string(IDP_PAGE)
    bare = Blueprint("bare", __name__, url_prefix="/bare")

    @bare.route("/authorize", methods=["GET", "POST"])
    def authorize():
        if request.method == "GET":
            return render_template(page, action=request.full_path, step=1)
        if request.form.get("step") == "1":
            session["bare_account"] = 1  # the sign-in's session write
            return render_template(page, action=request.full_path, step=2)
        query = urlencode({"code": secrets.token_urlsafe(32), "state": request.args.get("state", "")})
        return redirect(f"{web_url}/bare/callback?{query}")

    @bare.post("/token")
    @csrf.exempt
    def token():
        return jsonify(access_token="bare", token_type="Bearer", expires_in=3600, id_token="bare")

    @bare.get("/userinfo")
    def userinfo():
        return jsonify(sub="bare")

    app.register_blueprint(bare)
    return app


def one_bare_flow(browser, i: int) -> None:
    """The link flow's requests (7 to the webapp, 3 to the provider from the browser, and the
    callback's 2 back-channel calls), in the link flow's order."""
    page = browser.open("/bare/page")                                        # My Learn profile
    page = browser.submit(page, page.form_with(action_contains="/bare/start"))  # -> provider page
    page = browser.submit(page, page.form_with(button="Continue"))           # sign-in -> consent
    page = browser.submit(page, page.form_with(button="Continue"))           # allow -> callback
    if not page.url.endswith("/bare/page") or len(page.history) != 3:
        raise RuntimeError(f"bare flow {i} ended at {page.url} after {page.history}")
    page = browser.open("/bare/page")
    page = browser.submit(page, page.form_with(action_contains="/bare/remove"))
    if not page.url.endswith("/bare/page"):
        raise RuntimeError(f"bare flow {i} did not come back from remove: {page.url}")
