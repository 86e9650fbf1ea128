"""Helpers for the identity provider tests: a live server and a tiny
third-party relying party built on requests + Authlib's OAuth2Session."""

from __future__ import annotations

import html
import re
import secrets
import threading
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.serving import make_server

from tests.databases import provider_database_url

RP_REDIRECTS = {
    "learn": "http://rp.example.com/callback/learn",
    "partner-university": "http://rp.example.com/callback/pu",
}
RP_POST_LOGOUT = "http://rp.example.com/signed-out"
CLIENT_SECRETS = {"learn": "rp-learn-secret", "partner-university": "rp-pu-secret"}
CLIENT_IDS = {"learn": "rp-learn", "partner-university": "rp-pu"}
CHEAP_HASH = "pbkdf2:sha256:1000"


def rp_clients() -> list[dict]:
    return [
        {
            "issuer": issuer,
            "client_id": CLIENT_IDS[issuer],
            "client_secret": CLIENT_SECRETS[issuer],
            "client_name": "Contoso Test RP",
            "redirect_uris": [RP_REDIRECTS[issuer]],
            "post_logout_redirect_uris": [RP_POST_LOGOUT],
            "scope": "openid profile email transcript.read",
            "grant_types": ["authorization_code", "client_credentials"],
        }
        for issuer in ("learn", "partner-university")
    ]


def make_config(db_path, **extra) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": provider_database_url(db_path),
        "CREATE_TABLES_WITHOUT_MIGRATIONS": True,
        "IDP_PUBLIC_URL": "http://127.0.0.1:1",
        "IDP_CLIENTS": rp_clients(),
        "IDP_PASSWORD_HASH": CHEAP_HASH,
    }
    config.update(extra)
    return config


class LiveServer:
    """Runs a WSGI app on a loopback port in a background thread."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        app.config["IDP_PUBLIC_URL"] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=5)


_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_ACTION_RE = re.compile(r'<form method="post" action="([^"]*)"')


def csrf_token(page: str) -> str:
    match = _CSRF_RE.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def form_action(page: str, base_url: str) -> str:
    match = _ACTION_RE.search(page)
    assert match, "no form on the page"
    return urljoin(base_url, html.unescape(match.group(1)))


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class AuthRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str
    extra: dict = field(default_factory=dict)


class RelyingParty:
    """A third-party client of one issuer."""

    def __init__(self, base_url: str, issuer: str):
        self.base_url = base_url
        self.issuer = issuer
        self.issuer_url = f"{base_url}/{issuer}"
        self.client_id = CLIENT_IDS[issuer]
        self.client_secret = CLIENT_SECRETS[issuer]
        self.redirect_uri = RP_REDIRECTS[issuer]
        self.metadata = requests.get(
            f"{self.issuer_url}/.well-known/openid-configuration", timeout=5
        ).json()

    def oauth(self, **kwargs) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope="openid profile email",
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            **kwargs,
        )

    def authorization_request(self, **params) -> AuthRequest:
        nonce = secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48)
        url, state = self.oauth().create_authorization_url(
            self.metadata["authorization_endpoint"], nonce=nonce, code_verifier=verifier,
            **params,
        )
        return AuthRequest(url=url, state=state, nonce=nonce, code_verifier=verifier)

    def raw_authorization_url(self, **params) -> str:
        """An authorize URL built by hand (for malformed requests)."""
        base = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email",
            "state": "st-" + secrets.token_hex(4),
            "nonce": "n-" + secrets.token_hex(4),
        }
        base.update(params)
        base = {k: v for k, v in base.items() if v is not None}
        return f"{self.metadata['authorization_endpoint']}?{urlencode(base)}"

    def exchange(self, code: str, code_verifier: str, method="client_secret_basic"):
        session = self.oauth(token_endpoint_auth_method=method)
        return session.fetch_token(
            self.metadata["token_endpoint"], code=code, code_verifier=code_verifier
        )

    def raw_token_request(self, data: dict, auth=True) -> requests.Response:
        return requests.post(
            self.metadata["token_endpoint"],
            data=data,
            auth=(self.client_id, self.client_secret) if auth else None,
            timeout=5,
        )

    def validate_id_token(self, id_token: str, nonce: str) -> dict:
        jwks = requests.get(self.metadata["jwks_uri"], timeout=5).json()
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer_url},
            aud={"essential": True, "value": self.client_id},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            auth_time={"essential": True},
        )
        registry.validate(token.claims)
        assert token.header["kid"] in {k["kid"] for k in jwks["keys"]}
        assert token.header["alg"] == "RS256"
        return dict(token.claims)


class Browser:
    """A user agent that never follows redirects to the relying party."""

    def __init__(self):
        self.http = requests.Session()

    def get(self, url, **kw):
        return self.http.get(url, allow_redirects=False, timeout=5, **kw)

    def post(self, url, data, **kw):
        return self.http.post(url, data=data, allow_redirects=False, timeout=5, **kw)

    def submit(self, page_response, data: dict, action: str | None = None):
        """POST the first form of a page, adding its CSRF token."""
        page = page_response.text
        target = action or form_action(page, page_response.url)
        return self.post(target, {"csrf_token": csrf_token(page), **data})

    def sign_in_and_consent(self, url: str, email: str, password: str = "Passw0rd!"):
        page = self.get(url)
        assert page.status_code == 200, page.text
        assert 'name="password"' in page.text
        consent = self.submit(page, {"step": "signin", "email": email,
                                     "password": password, "submit": "Sign in"})
        assert consent.status_code == 200, consent.text
        assert 'value="consent"' in consent.text, consent.text
        consent.url = page.url
        return self.submit(consent, {"step": "consent", "allow": "Allow"})


def run_flow(rp: RelyingParty, email: str, password: str = "Passw0rd!",
             browser: Browser | None = None):
    """Full code flow; returns (token response, id_token claims, auth request)."""
    browser = browser or Browser()
    auth = rp.authorization_request()
    response = browser.sign_in_and_consent(auth.url, email, password)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(rp.redirect_uri + "?")
    params = query_of(location)
    assert params["state"] == auth.state
    token = rp.exchange(params["code"], auth.code_verifier)
    claims = rp.validate_id_token(token["id_token"], auth.nonce)
    return token, claims, auth


# Module-scoped fixtures shared by the provider test modules (imported there by name).

@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Both demo providers on a loopback port, for one test module."""
    from idp_mock import create_app
    from idp_mock.demo import seed_demo

    app = create_app(make_config(tmp_path_factory.mktemp("idp") / "idp.sqlite"))
    with app.app_context():
        seed_demo()
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def learn(live):
    return RelyingParty(live.url, "learn")
