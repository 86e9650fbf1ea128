"""A small client of the providers' QA control API, over real HTTP with requests.

QA suites can copy it: everything it does is documented in the README section
"QA control API".
"""
from __future__ import annotations

import os

import requests

DEV_CONTROL_TOKEN = "dev-qa-control-token"


def control_token() -> str:
    """The token the providers were started with (the documented dev default otherwise)."""
    return os.environ.get("IDP_CONTROL_TOKEN", DEV_CONTROL_TOKEN)


class ControlAPI:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token or control_token()}"
        self.timeout = timeout

    def request(self, method: str, path: str, expect: int | tuple = (200, 201), **kwargs):
        response = self.http.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in expected, (response.status_code, response.text)
        return response.json()

    # Scenarios
    def catalog(self) -> list[dict]:
        return self.request("GET", "/qa/scenarios/catalog")["scenarios"]

    def arm(self, issuer: str, scenario: str, scope: str = "next-flow",
            client_id: str | None = None, account: str | None = None, **params) -> dict:
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

    # Accounts
    def create_account(self, issuer: str, **fields) -> dict:
        return self.request("POST", f"/{issuer}/qa/accounts", expect=201, json=fields)

    def account(self, issuer: str, email: str) -> dict:
        return self.request("GET", f"/{issuer}/qa/accounts/{email}")

    def update_account(self, issuer: str, email: str, **fields) -> dict:
        return self.request("PATCH", f"/{issuer}/qa/accounts/{email}", json=fields)

    def delete_account(self, issuer: str, email: str) -> dict:
        return self.request("DELETE", f"/{issuer}/qa/accounts/{email}")

    def add_transcript_item(self, issuer: str, email: str, **item) -> dict:
        return self.request("POST", f"/{issuer}/qa/accounts/{email}/transcript", expect=201,
                            json=item)

    # Keys
    def rotate_key(self, issuer: str, grace_seconds: int | None = None) -> dict:
        body = {} if grace_seconds is None else {"grace_seconds": grace_seconds}
        return self.request("POST", f"/{issuer}/qa/rotate-key", expect=201, json=body)
