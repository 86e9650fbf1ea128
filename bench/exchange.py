"""Figure 2: authorization-code exchange (authorize + token) throughput against two peers.

Each provider runs as one process on 127.0.0.1 with one confidential client (client_secret_basic)
and a signed-in user; one sequential client (like a QA suite) does, per exchange: an authorize
request with PKCE S256, state and nonce that returns a code, then the token request with the code
verifier. Every token response is checked for an id_token.

- ours: the Microsoft Learn issuer of idp_mock under gunicorn (one sync worker), QA hash method;
- oidc-provider-mock (PyPI; Flask + Authlib like ours) under gunicorn (one sync worker; its
  storage is in memory, so one process), installed into bench/.work/venv-mock;
- node oidc-provider (npm), installed into bench/.work/node, started with
  bench/oidc_provider_server.mjs.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

from bench.servers import (QA_HASH, REPO, SECRET, WORK, Deadline, Process, cpu_seconds, free_port,
                           gunicorn, migrate)

MOCK_VERSION = "0.3.4"      # the newest oidc-provider-mock that installs on Python 3.11
NODE_VERSION = "9.13.3"     # oidc-provider
GUNICORN_VERSION = "27.0.1"  # the one in requirements.txt
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the code is read from Location
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-client-secret-0123456789"
SCOPE = "openid email profile"


def install_mock() -> Path:
    venv = WORK / "venv-mock"
    marker = venv / f".installed-{MOCK_VERSION}"
    if not marker.exists():
        shutil.rmtree(venv, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        f"oidc-provider-mock=={MOCK_VERSION}", f"gunicorn=={GUNICORN_VERSION}"],
                       check=True)
        marker.touch()
    return venv


def install_node() -> Path:
    folder = WORK / "node"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "node_modules" / "oidc-provider" / "package.json").exists() or \
            json.loads((folder / "node_modules" / "oidc-provider" / "package.json").read_text())[
                "version"] != NODE_VERSION:
        if not (folder / "package.json").exists():
            (folder / "package.json").write_text('{"name": "bench-peers", "private": true, "type": "module"}\n')
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund",
                        f"oidc-provider@{NODE_VERSION}"], cwd=folder, check=True,
                       stdout=subprocess.DEVNULL)
    shutil.copy(REPO / "bench" / "oidc_provider_server.mjs", folder / "server.mjs")
    return folder


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params() -> tuple[dict, str]:
    verifier, challenge = pkce_pair()
    return {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
            "scope": SCOPE, "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge, "code_challenge_method": "S256"}, verifier


def code_from(response: requests.Response, state: str) -> str:
    location = response.headers.get("Location", "")
    if not location.startswith(REDIRECT_URI):
        raise RuntimeError(f"no code: {response.status_code} {location or response.text[:300]}")
    query = parse_qs(urlsplit(location).query)
    if query.get("state") != [state] or "code" not in query:
        raise RuntimeError(f"bad redirect: {location}")
    return query["code"][0]


def redeem(http: requests.Session, token_url: str, code: str, verifier: str, client_id: str,
           client_secret: str) -> None:
    response = http.post(token_url, auth=(client_id, client_secret), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier})
    if response.status_code != 200 or "id_token" not in response.json():
        raise RuntimeError(f"token: {response.status_code} {response.text[:300]}")


class Ours:
    name = "LearnLink idp_mock (learn)"

    def __init__(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        folder = WORK / "exchange"
        folder.mkdir(parents=True, exist_ok=True)
        db_path = folder / "idp.sqlite"
        for old in folder.glob("idp.sqlite*"):
            old.unlink()
        self.clients = [{"issuer": "learn", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                         "client_name": "Bench", "redirect_uris": [REDIRECT_URI], "scope": SCOPE,
                         "grant_types": ["authorization_code"], "response_types": ["code"],
                         "token_endpoint_auth_method": "client_secret_basic",
                         "always_ask_consent": True}]  # every prepare() finds the consent page
        import idp_mock
        from idp_mock.demo import seed_demo
        migrate("idp_mock", {"IDP_DATABASE_URL": f"sqlite:///{db_path}", "IDP_CLIENTS": json.dumps(self.clients),
                             "IDP_PUBLIC_URL": self.base})
        app = idp_mock.create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
                                   "IDP_PUBLIC_URL": self.base, "IDP_CLIENTS": self.clients,
                                   "IDP_PASSWORD_HASH": QA_HASH})
        with app.app_context():
            seed_demo()
        self.process = gunicorn("exchange-ours", "wsgi:idp_app", self.port, {
            "IDP_DATABASE_URL": f"sqlite:///{db_path}", "IDP_PUBLIC_URL": self.base,
            "IDP_CLIENTS": json.dumps(self.clients), "IDP_PASSWORD_HASH": QA_HASH,
            "IDP_SECRET_KEY": SECRET}, workers=1)
        self.ready = f"{self.base}/healthz"

    def prepare(self, http: requests.Session) -> None:
        from tests.fixtures.browser import Page
        params, _verifier = authorize_params()
        url = f"{self.base}/learn/authorize?{urlencode(params)}"
        page = Page(url, 200, http.get(url, timeout=10).text, {}, [])
        form = page.form_with(button="Sign in")
        data = {**form.fields, "email": "alex.learner@outlook.com", "password": "Passw0rd!", "submit": "Sign in"}
        consent = Page(url, 200, http.post(url, data=data, timeout=10).text, {}, [])
        self.csrf = consent.form_with(button="Allow").fields["csrf_token"]

    def exchange(self, http: requests.Session) -> None:
        params, verifier = authorize_params()
        response = http.post(f"{self.base}/learn/authorize?{urlencode(params)}", allow_redirects=False,
                             timeout=10, data={"csrf_token": self.csrf, "step": "consent", "allow": "Allow"})
        redeem(http, f"{self.base}/learn/token", code_from(response, params["state"]), verifier,
               CLIENT_ID, CLIENT_SECRET)


class Mock:
    name = f"oidc-provider-mock {MOCK_VERSION}"

    def __init__(self):
        venv = install_mock()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = Process("exchange-mock", [
            str(venv / "bin" / "gunicorn"),
            "oidc_provider_mock:app(require_client_registration=True, require_nonce=True)",
            "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--log-level", "warning"],
            env={"AUTHLIB_INSECURE_TRANSPORT": "1"})
        self.ready = f"{self.base}/.well-known/openid-configuration"

    def prepare(self, http: requests.Session) -> None:
        response = http.post(f"{self.base}/oauth2/clients", timeout=10, json={
            "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_basic"})
        response.raise_for_status()
        self.client_id, self.client_secret = response.json()["client_id"], response.json()["client_secret"]

    def exchange(self, http: requests.Session) -> None:
        params, verifier = authorize_params()
        params["client_id"] = self.client_id
        response = http.post(f"{self.base}/oauth2/authorize?{urlencode(params)}", allow_redirects=False,
                             timeout=10, data={"sub": "bench-user"})
        redeem(http, f"{self.base}/oauth2/token", code_from(response, params["state"]), verifier,
               self.client_id, self.client_secret)


class Node:
    name = f"node oidc-provider {NODE_VERSION}"

    def __init__(self):
        folder = install_node()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = Process("exchange-node", ["node", "server.mjs"], cwd=folder, env={
            "PORT": str(self.port), "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
            "REDIRECT_URI": REDIRECT_URI, "NODE_ENV": "production"})
        self.ready = f"{self.base}/.well-known/openid-configuration"

    def prepare(self, http: requests.Session) -> None:
        self.exchange(http)  # the first authorize signs in through the interaction

    def exchange(self, http: requests.Session) -> None:
        params, verifier = authorize_params()
        url = f"{self.base}/auth?{urlencode(params)}"
        for _hop in range(6):
            response = http.get(url, allow_redirects=False, timeout=10)
            location = response.headers.get("Location", "")
            if location.startswith(REDIRECT_URI) or response.status_code not in (302, 303):
                break
            url = urljoin(url, location)
        redeem(http, f"{self.base}/token", code_from(response, params["state"]), verifier,
               CLIENT_ID, CLIENT_SECRET)


def run(quick: bool) -> list:
    from bench.run import Row

    per_batch, rounds = (40, 3) if quick else (100, 5)
    providers = [Ours(), Mock(), Node()]
    results: dict[str, list[float]] = {p.name: [0, 0.0, 0.0] for p in providers}
    try:
        sessions = {}
        for provider in providers:
            provider.process.wait_http(provider.ready, timeout=60)
            http = requests.Session()
            provider.prepare(http)
            for _ in range(5):
                provider.exchange(http)  # warm-up
            sessions[provider.name] = http
        deadline = Deadline(90 if quick else 240)
        for _round in range(rounds):
            for provider in providers:  # interleaved, so load from elsewhere hits all alike
                http = sessions[provider.name]
                pids = [provider.process.proc.pid] + provider.process.children()
                cpu = cpu_seconds(pids)
                started = time.perf_counter()
                for _ in range(per_batch):
                    provider.exchange(http)
                results[provider.name][0] += per_batch
                results[provider.name][1] += time.perf_counter() - started
                results[provider.name][2] += cpu_seconds(pids) - cpu
            if deadline.over():
                break
    finally:
        for provider in providers:
            provider.process.stop()
    rate = {name: count / seconds for name, (count, seconds, _cpu) in results.items()}
    ours, mock, node = (rate[p.name] for p in providers)
    # Server CPU per exchange: what the throughput ratio approaches when the machine is busy.
    rows = [Row(f"Code exchange: {name}", f"{value:.0f} /s, server CPU {results[name][2] / results[name][0] * 1000:.1f} ms"
                f" per exchange ({results[name][0]} exchanges)") for name, value in rate.items()]
    rows.append(Row("Code exchange: ours / oidc-provider-mock", f"{ours / mock:.2f}x", ">= 1.0x", ours / mock >= 1.0))
    rows.append(Row("Code exchange: ours / node oidc-provider", f"{ours / node:.2f}x", ">= 0.5x", ours / node >= 0.5))
    return rows
