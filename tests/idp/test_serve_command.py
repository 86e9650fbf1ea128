"""`python -m idp_mock`: only the providers and their QA API on a given port, ready quickly; and
the control API's client registration that the pytest plugin's client uses."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from idp_mock.serve import Providers
from tests.fixtures.servers import free_port

# Their providers always run on a throwaway SQLite file of their own, whatever the suite's
# database: a second pass on PostgreSQL would run the same thing again.
pytestmark = pytest.mark.database_neutral

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "serve-command-test-token"


def start_command(*args: str, token: str | None = TOKEN):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    if token:
        env["IDP_CONTROL_TOKEN"] = token
    return subprocess.Popen([sys.executable, "-m", "idp_mock", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(process, timeout: float = 30) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else ""


def test_the_command_serves_only_the_providers_and_says_when_ready():
    port = free_port()
    started = time.monotonic()
    process = start_command("--port", str(port))
    try:
        line = first_line(process)
        wall = time.monotonic() - started
        url = f"http://127.0.0.1:{port}"
        assert line.startswith(f"LearnLink providers ready at {url} "), line
        assert TOKEN not in line and "IDP_CONTROL_TOKEN" in line
        # Ready means answering: at once, without a retry.
        for issuer in ("learn", "partner-university"):
            document = requests.get(f"{url}/{issuer}/.well-known/openid-configuration",
                                    timeout=5).json()
            assert document["issuer"] == f"{url}/{issuer}"
        control = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.get(f"{url}/learn/qa/keys", headers=control, timeout=5).status_code == 200
        assert requests.get(f"{url}/learn/qa/keys", timeout=5,
                            headers={"Authorization": "Bearer dev-qa-control-token"}
                            ).status_code == 401
        accounts = requests.get(f"{url}/learn/qa/accounts/alex.learner@outlook.com",
                                headers=control, timeout=5)
        assert accounts.status_code == 200  # the demo accounts are there
        assert requests.get(f"{url}/login", timeout=5).status_code == 404  # no webapp
    finally:
        process.send_signal(signal.SIGTERM)
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, process.stderr.read()[-2000:]
    cpu = usage.ru_utime + usage.ru_stime
    print(f"ready after {wall:.2f} s wall, {cpu:.2f} s CPU")
    # CPU time, not wall time: the machine running the suite may be busy with other work.
    assert cpu < 2.0, f"{cpu:.2f} s of CPU to start"
    assert wall < 20


def test_a_port_in_use_is_a_clear_error():
    with Providers(0, demo_accounts=False) as busy:
        process = start_command("--port", str(busy.port))
        out, err = process.communicate(timeout=30)
    assert process.returncode == 1 and out == ""
    assert f"Port {busy.port} is in use" in err  # werkzeug's message


@pytest.fixture(scope="module")
def providers():
    with Providers(0, demo_accounts=False) as started:
        yield started


@pytest.mark.parametrize("body, field", [
    ({"client_id": "partner-center-learn", "client_secret": "long-enough-secret",
      "redirect_uris": ["http://a.test/cb"]}, "client_id"),
    ({"client_secret": "long-enough-secret", "redirect_uris": ["http://a.test/cb"]}, "client_id"),
    ({"client_id": "app", "client_secret": "short", "redirect_uris": ["http://a.test/cb"]},
     "client_secret"),
    ({"client_id": "app", "client_secret": "long-enough-secret"}, "redirect_uris"),
    ({"client_id": "app", "client_secret": "long-enough-secret", "redirect_uris": []},
     "redirect_uris"),
    ({"client_id": "app", "client_secret": "long-enough-secret",
      "redirect_uris": ["javascript:alert(1)"]}, "redirect_uris[0]"),
    ({"client_id": "app", "client_secret": "long-enough-secret",
      "redirect_uris": ["http://a.test/cb#frag"]}, "redirect_uris[0]"),
    ({"client_id": "app", "client_secret": "long-enough-secret",
      "redirect_uris": ["http://a.test/cb"], "token_endpoint_auth_method": "none"},
     "token_endpoint_auth_method"),
    ({"client_id": "a p", "client_secret": "long-enough-secret",
      "redirect_uris": ["http://a.test/cb"]}, "client_id"),
    ({"client_id": "app", "client_secret": "long-enough-secret",
      "redirect_uris": ["http://a.test/cb"], "grant_types": ["password"]}, "grant_types"),
], ids=["configured-client", "no-client-id", "short-secret", "no-redirect", "empty-redirects",
        "javascript-redirect", "fragment", "auth-none", "space-in-id", "unknown-field"])
def test_client_registration_refuses_bad_input_and_registers_nothing(providers, body, field):
    control = providers.control()
    response = control.http.post(f"{providers.url}/learn/qa/clients", json=body, timeout=10)
    assert response.status_code == 400 and response.json()["field"] == field, response.text
    discovery = requests.get(providers.discovery_url("learn"), timeout=10).json()
    credentials = (body.get("client_id") or "app", body.get("client_secret") or "x")
    answer = requests.post(discovery["token_endpoint"], auth=credentials,
                           data={"grant_type": "client_credentials"}, timeout=10)
    assert answer.status_code == 401  # no such client, or not with this secret


def test_a_registered_client_can_be_replaced(providers):
    control = providers.control()
    first = control.register_client("partner-university", "qa-app", "first-secret-0001",
                                    ["http://a.test/cb"])
    assert first["discovery_url"] == providers.discovery_url("partner-university")
    second = control.register_client("partner-university", "qa-app", "second-secret-0002",
                                      ["http://b.test/cb"], token_endpoint_auth_method=
                                      "client_secret_post")
    assert second["redirect_uris"] == ["http://b.test/cb"]
    assert second["token_endpoint_auth_method"] == "client_secret_post"
    token_endpoint = requests.get(providers.discovery_url("partner-university"),
                                  timeout=10).json()["token_endpoint"]
    for secret, status in (("first-secret-0001", 401), ("second-secret-0002", 200)):
        answer = requests.post(token_endpoint, data={
            "grant_type": "client_credentials", "client_id": "qa-app", "client_secret": secret,
            "scope": "transcript.read"}, timeout=10)
        assert answer.status_code == status, answer.text
