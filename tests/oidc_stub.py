"""A small test-only OpenID provider on loopback that answers whatever the test scripts.

The mock providers in ``idp_mock`` are correct by construction; this one is not. A test sets
how the ID token is built (claims, header, signing key, or the raw string), what the JWKS,
discovery, token and userinfo endpoints return, and the fault to inject (slow, garbage,
connection cut). The webapp talks to it over real HTTP like to any provider.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import LiveServer, _free_port

CLIENT_ID = "partner-center-learn"
SUBJECT = "stub-subject-0001"
MCID = "555000111"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(kid: str | None, alg: str | None = "RS256") -> RSAKey:
    params = {"use": "sig", "alg": alg} if alg else {"use": "sig"}
    if kid:
        params["kid"] = kid
    return RSAKey.generate_key(2048, parameters=params, private=True)


def unsigned_token(header: dict, claims: dict) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def hs256_token(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


@dataclass
class Script:
    """What the stub answers; reset before each test."""

    keys: list = field(default_factory=list)          # published in the JWKS (public parts)
    signing_key: RSAKey | None = None                 # signs the ID token (None: keys[0])
    header: dict = field(default_factory=dict)        # merged into the JOSE header
    drop_kid: bool = False                            # leave "kid" out of the header
    claims: dict = field(default_factory=dict)        # merged into the ID token claims (a
    #                                                   callable value gets the claims first)
    remove_claims: tuple = ()                         # claims to leave out
    raw_id_token: Callable[[dict, dict], str] | None = None  # (header, claims) -> token
    discovery: dict = field(default_factory=dict)     # merged into the discovery document
    userinfo: dict = field(default_factory=dict)      # merged into the userinfo answer
    token: dict = field(default_factory=dict)         # merged into the token answer
    token_fault: str | None = None                    # see FAULTS
    delay: float = 0.0                                # seconds the token endpoint waits


FAULTS = {
    "html": (200, "text/html", "<html><body>Service unavailable</body></html>"),
    "invalid_json": (200, "application/json", '{"access_token": "abc", '),
    "json_list": (200, "application/json", '["access_token", "id_token"]'),
    "json_string": (200, "application/json", '"just a string"'),
    "empty": (200, "application/json", ""),
    "server_error": (500, "text/html", "<h1>Internal Server Error</h1>"),
    "bad_gateway": (502, "text/plain", "Bad gateway"),
    "no_id_token": (200, "application/json", '{"access_token": "abc", "token_type": "Bearer"}'),
    "id_token_number": (200, "application/json",
                        '{"access_token": "abc", "token_type": "Bearer", "id_token": 12}'),
    "id_token_garbage": (200, "application/json",
                         '{"access_token": "abc", "token_type": "Bearer", "id_token": "a.b.c"}'),
}


class StubProvider:
    def __init__(self):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.default_key = new_key("stub-key-1")
        self.hits: list[str] = []
        self.codes: dict[str, dict] = {}  # code -> the authorize request it answered
        self.lock = threading.Lock()
        self.last_authorize: dict = {}
        self.token_requests: list[dict] = []
        self.script = Script()
        self.reset()
        self.server = LiveServer(self._build_app(), self.port)

    def reset(self) -> None:
        self.script = Script(keys=[self.default_key])
        self.hits.clear()
        self.codes.clear()
        self.last_authorize = {}
        self.token_requests.clear()

    @property
    def issuer(self) -> str:
        return self.url

    def count(self, path: str) -> int:
        return sum(1 for hit in self.hits if hit == path)

    # -- the ID token the token endpoint returns
    def id_token(self, nonce: str | None = None) -> str:
        s = self.script
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": CLIENT_ID, "sub": SUBJECT, "iat": now, "exp": now + 300,
            "nonce": nonce if nonce is not None else self.last_authorize.get("nonce"),
            "email": "stub.learner@outlook.com",
            "name": "Stub Learner", "account_type": "personal", "mcid": MCID,
        }
        # A value may be a function of the claims built so far (e.g. to wrap the real nonce).
        claims.update({k: (v(claims) if callable(v) else v) for k, v in s.claims.items()})
        for name in s.remove_claims:
            claims.pop(name, None)
        key = s.signing_key or s.keys[0]
        header = {"alg": "RS256", "kid": key.kid, **s.header}
        if s.drop_kid:
            header.pop("kid", None)
        if s.raw_id_token:
            return s.raw_id_token(header, claims)
        return jwt.encode(header, claims, key, algorithms=[header["alg"]])

    def _build_app(self) -> Flask:
        app = Flask("oidc_stub")
        stub = self

        @app.before_request
        def record():
            stub.hits.append(request.path)

        @app.get("/.well-known/openid-configuration")
        def discovery():
            base = stub.url
            return jsonify({
                "issuer": base,
                "authorization_endpoint": base + "/authorize",
                "token_endpoint": base + "/token",
                "userinfo_endpoint": base + "/userinfo",
                "jwks_uri": base + "/jwks.json",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                **stub.script.discovery,
            })

        @app.get("/jwks.json")
        def jwks():
            return jsonify({"keys": [k.as_dict(private=False) for k in stub.script.keys]})

        @app.get("/authorize")
        def authorize():
            # No sign-in page: consent is implied, the browser goes straight back.
            stub.last_authorize = request.args.to_dict()
            code = "stub-code-" + secrets.token_hex(8)
            with stub.lock:
                stub.codes[code] = request.args.to_dict()
            query = urlencode({"code": code, "state": request.args.get("state", "")})
            return redirect(f"{request.args['redirect_uri']}?{query}")

        @app.post("/token")
        def token():
            stub.token_requests.append({"form": request.form.to_dict(),
                                        "authorization": request.headers.get("Authorization")})
            if stub.script.delay:
                time.sleep(stub.script.delay)
            if stub.script.token_fault:
                status, mimetype, body = FAULTS[stub.script.token_fault]
                return Response(body, status=status, mimetype=mimetype)
            with stub.lock:
                asked = stub.codes.get(request.form.get("code", ""), {})
            return jsonify({"access_token": "stub-access-token", "token_type": "Bearer",
                            "expires_in": 300, "id_token": stub.id_token(asked.get("nonce")),
                            **stub.script.token})

        @app.get("/garbage/<kind>")
        def garbage(kind):
            status, mimetype, body = FAULTS[kind]
            return Response(body, status=status, mimetype=mimetype)

        @app.route("/userinfo", methods=["GET", "POST"])
        def userinfo():
            return jsonify({"sub": SUBJECT, "email": "stub.learner@outlook.com",
                            "name": "Stub Learner", "account_type": "personal", "mcid": MCID,
                            **stub.script.userinfo})

        return app


class ClosingServer:
    """Accepts a connection, reads the request, and hangs up without a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{_free_port()}"


# ---------------------------------------------------------------- fixtures (import them in a test module)

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def stub():
    provider = StubProvider()
    provider.server.start()
    yield provider
    provider.server.stop()


@pytest.fixture
def stub_app(stub, idp, tmp_path):
    """A webapp whose Microsoft Learn client points at the stub (Partner University stays real)."""
    from tests.conftest import TEST_DATABASE_URL, webapp_config
    from webapp import create_app
    from webapp.demo import seed_demo
    from webapp.extensions import db

    stub.reset()
    database_url = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'webapp.sqlite'}"
    config = webapp_config(idp.url, database_url)
    config.update({"LEARN_OIDC_DISCOVERY_URL": stub.url + "/.well-known/openid-configuration",
                   # Short, but not so short that a busy machine turns a normal answer into a timeout.
                   "OIDC_HTTP_TIMEOUT": 3})
    app = create_app(config)
    with app.app_context():
        if TEST_DATABASE_URL:
            db.drop_all()
            db.create_all()
        seed_demo(with_links=False)
    yield app
    with app.app_context():
        db.session.remove()
        if TEST_DATABASE_URL:
            db.drop_all()
        db.engine.dispose()


@pytest.fixture
def stub_browser(stub_app):
    from tests.browser import Browser
    from tests.flows import sign_in

    browser = Browser(stub_app.test_client())
    sign_in(browser, "alex@contoso.com")
    return browser
