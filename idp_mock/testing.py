"""For other projects' tests: a client of the providers' QA control API, and the person's part of
a code flow (sign in, allow) without a browser. docs/testing.md, "The providers in your own tests".

Only HTTP with ``requests``: it works against providers started by the pytest plugin
(``idp_mock.pytest_plugin``), by ``python -m idp_mock``, or anywhere else.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests

#: The control API's token when IDP_CONTROL_TOKEN is unset (a laptop's default, as in scripts/run.sh).
DEV_CONTROL_TOKEN = "dev-qa-control-token"

DEMO_PASSWORD = "Passw0rd!"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_FORM = re.compile(r'<form method="post" action="([^"]*)"')


class ControlError(AssertionError):
    """The control API answered with another status than expected (``status``, ``body``)."""

    def __init__(self, status: int, body: str):
        super().__init__(f"QA control API answered {status}: {body[:500]}")
        self.status = status
        self.body = body


class ControlClient:
    """The QA control API (docs/qa-api.md) of providers at ``base_url``."""

    def __init__(self, base_url: str, token: str = DEV_CONTROL_TOKEN, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def request(self, method: str, path: str, expect: int | tuple = (200, 201), **kwargs) -> dict:
        response = self.http.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        if response.status_code not in ((expect,) if isinstance(expect, int) else expect):
            raise ControlError(response.status_code, response.text)
        return response.json()

    # -- scenarios
    def catalog(self) -> list[dict]:
        return self.request("GET", "/qa/scenarios/catalog")["scenarios"]

    def arm(self, issuer: str, scenario: str, scope: str = "next-flow",
            client_id: str | None = None, account: str | None = None, **params) -> dict:
        """Arm a fault scenario (names: :meth:`catalog`, docs/scenarios.md)."""
        body = {"scenario": scenario, "scope": scope}
        if client_id:
            body["client_id"] = client_id
        if account:
            body["account"] = account
        if params:
            body["params"] = params
        return self.request("POST", f"/{issuer}/qa/scenarios", expect=201, json=body)

    def scenarios(self, issuer: str) -> list[dict]:
        return self.request("GET", f"/{issuer}/qa/scenarios")["scenarios"]

    def clear(self, issuer: str, scenario_id: int | None = None) -> int:
        path = f"/{issuer}/qa/scenarios" + (f"/{scenario_id}" if scenario_id else "")
        return self.request("DELETE", path)["cleared"]

    # -- accounts
    def create_account(self, issuer: str, email: str, password: str = DEMO_PASSWORD,
                       **fields) -> dict:
        """Fields: name, kind, mcid ("generate"), msa_email, legal_name, country, transcript."""
        return self.request("POST", f"/{issuer}/qa/accounts", expect=201,
                            json={"email": email, "password": password, **fields})

    def account(self, issuer: str, email: str) -> dict:
        return self.request("GET", f"/{issuer}/qa/accounts/{email}")

    def update_account(self, issuer: str, email: str, **fields) -> dict:
        return self.request("PATCH", f"/{issuer}/qa/accounts/{email}", json=fields)

    def delete_account(self, issuer: str, email: str) -> dict:
        return self.request("DELETE", f"/{issuer}/qa/accounts/{email}")

    # -- clients
    def register_client(self, issuer: str, client_id: str, client_secret: str,
                        redirect_uris: list[str], **fields) -> dict:
        """A confidential client (or replace it). Fields: client_name, scope,
        post_logout_redirect_uris, token_endpoint_auth_method. Answers its discovery_url."""
        return self.request("POST", f"/{issuer}/qa/clients", expect=201, json={
            "client_id": client_id, "client_secret": client_secret,
            "redirect_uris": redirect_uris, **fields})

    # -- signing keys
    def rotate_key(self, issuer: str, grace_seconds: int | None = None) -> dict:
        body = {} if grace_seconds is None else {"grace_seconds": grace_seconds}
        return self.request("POST", f"/{issuer}/qa/rotate-key", expect=201, json=body)

    def keys(self, issuer: str) -> list[dict]:
        return self.request("GET", f"/{issuer}/qa/keys")["published"]

    # -- everything
    def reset(self) -> dict:
        """Back to the demo accounts; scenarios cleared (clients and keys stay)."""
        return self.request("POST", "/qa/reset")


class AuthorizeError(AssertionError):
    pass


def authorize(authorization_url: str, email: str, password: str = DEMO_PASSWORD,
              http: requests.Session | None = None, max_steps: int = 8) -> str:
    """Do what the person does at the provider: open ``authorization_url``, sign in, allow.

    Returns the URL the provider redirects the browser to (the client's ``redirect_uri`` with
    ``code`` and ``state``, or an ``error``). ``http`` keeps the provider's session cookie
    between calls (a second flow then skips the sign-in).
    """
    http = http or requests.Session()
    provider = urlsplit(authorization_url)[:2]
    response = http.get(authorization_url, allow_redirects=False, timeout=10)
    for _ in range(max_steps):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if urlsplit(location)[:2] != provider:
                return location
            response = http.get(location, allow_redirects=False, timeout=10)
            continue
        page = response.text
        if response.status_code != 200 or not _FORM.search(page) or not _CSRF.search(page):
            raise AuthorizeError(f"unexpected provider page ({response.status_code}) at "
                                 f"{response.url}: {page[:300]}")
        if 'name="password"' in page:
            data = {"step": "signin", "email": email, "password": password, "submit": "Sign in"}
        elif 'value="consent"' in page:
            data = {"step": "consent", "allow": "Allow"}
        else:
            raise AuthorizeError(f"neither a sign-in nor a consent page at {response.url}")
        # The page's own form, not the QA "Test scenario" panel's.
        action = next(a for a in _FORM.findall(page) if "/test-scenario/" not in a)
        action = urljoin(response.url, html.unescape(action))
        response = http.post(action, data={"csrf_token": _CSRF.search(page).group(1), **data},
                             allow_redirects=False, timeout=10)
    raise AuthorizeError(f"no redirect back after {max_steps} steps (wrong password?)")
