"""Example for QA suites: set up state and a fault over the control API, run the flow, see it fail.

Everything here goes over HTTP: the providers' control API with ``requests``, and the
linking flow with a browser that follows the real redirects between the webapp and the
providers. Nothing reads a database. Copy it into your own suite and point ``IDP_URL``
at your providers (the ``idp`` fixture here) and the browser at your webapp.
"""
from __future__ import annotations

import html
import os
import re

import pytest
import requests

from tests.fixtures.flows import provider_consent, provider_sign_in, sign_in, start_link

TOKEN = os.environ.get("IDP_CONTROL_TOKEN", "dev-qa-control-token")  # the documented dev default
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LEARNER = "qa.example.learner@outlook.com"


@pytest.fixture
def idp_url(idp):
    return idp.url


@pytest.fixture
def learner(idp_url):
    """A Learn account with an MCID and a certification, created over the control API."""
    response = requests.post(f"{idp_url}/learn/qa/accounts", headers=AUTH, timeout=10, json={
        "email": LEARNER, "password": "Exampl3-Passw0rd", "name": "QA Example Learner",
        "mcid": "246813579", "transcript": [{"catalog": "AZ-104"}]})
    assert response.status_code == 201, response.text
    yield response.json()
    requests.delete(f"{idp_url}/learn/qa/scenarios", headers=AUTH, timeout=10)
    requests.delete(f"{idp_url}/learn/qa/accounts/{LEARNER}", headers=AUTH, timeout=10)


def flash_messages(page) -> list[str]:
    return [html.unescape(m).strip()
            for m in re.findall(r'class="flash[^"]*"[^>]*>(.*?)</', page.text, re.S)]


def link_learn(browser, email, password):
    page = start_link(browser, "learn")
    if 'value="signin"' in page.text:
        page = provider_sign_in(browser, page, email, password)
    return provider_consent(browser, page)


def test_wrong_audience_in_id_token_is_shown_and_nothing_is_linked(browser, idp_url, learner):
    # 1. The scenario catalog names what can be switched on.
    catalog = requests.get(f"{idp_url}/qa/scenarios/catalog", headers=AUTH, timeout=10).json()
    assert "id_token_wrong_aud" in {s["name"] for s in catalog["scenarios"]}

    # 2. Arm it for the next flow of this learner only.
    armed = requests.post(f"{idp_url}/learn/qa/scenarios", headers=AUTH, timeout=10, json={
        "scenario": "id_token_wrong_aud", "scope": "next-flow", "account": LEARNER})
    assert armed.status_code == 201, armed.text

    # 3. Run the linking flow as a partner's employee would.
    sign_in(browser, "alex@contoso.com")
    page = link_learn(browser, LEARNER, "Exampl3-Passw0rd")

    # 4. The webapp names the failed check, and nothing is linked.
    assert page.url.endswith("/profile")
    [message] = flash_messages(page)
    assert "The ID token from Microsoft Learn failed the aud check" in message
    assert message.endswith("(Failed check: id_token_aud)")
    assert "No account is linked." in page.text and "246813579" not in page.text

    # 5. The provider confirms the scenario fired once and is used up.
    [scenario] = requests.get(f"{idp_url}/learn/qa/scenarios", headers=AUTH,
                              timeout=10).json()["scenarios"]
    assert scenario["consumed"] is True and scenario["hits"] == 1

    # 6. A retry is a normal flow again: the account links with the MCID set over the API.
    page = link_learn(browser, LEARNER, "Exampl3-Passw0rd")
    assert any("is now linked" in m for m in flash_messages(page))
    assert "246813579" in page.text
