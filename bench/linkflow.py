"""Figure 1: the full link flow, in-process (as the test suite runs it) and over HTTP (gunicorn).

One flow: My Learn profile -> start link -> provider sign-in -> consent -> callback (token
exchange, id_token checks, userinfo) -> link recorded -> remove -> profile. Every flow signs in at
the provider with its own personal account (its own MCID), so the 30-day limit never applies and
no clock is moved. Its cost is compared with the same number of requests to a trivial endpoint
(``/healthz``) of the same servers; password hashing is timed apart and left out of the ratio.
"""
from __future__ import annotations

import json
import re
import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

import requests
from werkzeug.security import check_password_hash, generate_password_hash

from bench.servers import (QA_HASH, WORK, Deadline, cpu_seconds, free_port, gunicorn, idp_env,
                           migrate, running, webapp_env)

BENCH_PASSWORD = "Passw0rd!"


def personal_email(i: int) -> str:
    return f"bench.learner{i:05d}@outlook.com"


def seed_personal_accounts(count: int) -> None:
    """Learn personal accounts, each with its own MCID (inside an idp app context)."""
    from idp_mock.models import db
    from idp_mock.services import create_account, find_account

    hashed = generate_password_hash(BENCH_PASSWORD, method=QA_HASH)
    for i in range(count):
        if find_account("learn", personal_email(i)) is None:
            account = create_account("learn", personal_email(i), BENCH_PASSWORD, f"Bench Learner {i}",
                                     kind="personal", mcid=str(700_000_000 + i), commit=False)
            account.password_hash = hashed
    db.session.commit()


class CountingMiddleware:
    """Counts the requests one WSGI app serves."""

    def __init__(self, app):
        self.app = app
        self.count = 0

    def __call__(self, environ, start_response):
        self.count += 1
        return self.app(environ, start_response)


class HashTimer:
    """Wraps check_password_hash where the apps imported it, to time every verification."""

    def __init__(self):
        self.calls = 0
        self.seconds = 0.0

    def wrap(self, func):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1
        return timed

    @contextmanager
    def installed(self):
        import idp_mock.models
        from common import sign_in_throttle  # the webapp's sign-in checks its passwords there
        saved = (idp_mock.models.check_password_hash, sign_in_throttle.check_password_hash)
        idp_mock.models.check_password_hash = self.wrap(saved[0])
        sign_in_throttle.check_password_hash = self.wrap(saved[1])
        try:
            yield self
        finally:
            idp_mock.models.check_password_hash, sign_in_throttle.check_password_hash = saved


def verify_ms(method: str, rounds: int) -> float:
    hashed = generate_password_hash(BENCH_PASSWORD, method=method)
    started = time.perf_counter()
    for _ in range(rounds):
        check_password_hash(hashed, BENCH_PASSWORD)
    return (time.perf_counter() - started) / rounds * 1000


def one_flow(browser, i: int) -> None:
    from tests.fixtures.flows import provider_consent, provider_sign_in, remove_link, start_link

    page = start_link(browser, "learn")
    page = provider_sign_in(browser, page, personal_email(i))
    page = provider_consent(browser, page)
    if "is now linked" not in page.text:
        raise RuntimeError(f"flow {i} did not link: {page.url}\n{page.text[:1500]}")
    page = remove_link(browser, "learn")
    if "Access removed" not in page.text:
        raise RuntimeError(f"flow {i} did not remove: {page.url}")


def run_flows(browser, first: int, count: int, seconds: float, forget_provider,
              flow=one_flow) -> tuple[int, float]:
    deadline = Deadline(seconds)
    done = 0
    started = time.perf_counter()
    for i in range(first, first + count):
        forget_provider()
        flow(browser, i)
        done += 1
        if deadline.over():
            break
    return done, time.perf_counter() - started


def in_process(flows: int, seconds: float) -> dict:
    """Webapp through the Flask test client, providers on a live loopback port (as in tests/)."""
    import idp_mock
    from idp_mock.demo import seed_demo as seed_idp
    from tests.fixtures.browser import Browser
    from tests.fixtures.servers import LiveServer, webapp_clients, webapp_config
    from tests.fixtures.flows import sign_in
    from webapp import create_app
    from webapp.demo.seed import seed_demo as seed_webapp

    folder = WORK / "flow-inproc"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.sqlite"):
        old.unlink()
    port = free_port()
    idp_app = idp_mock.create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'idp.sqlite'}",
        "IDP_PUBLIC_URL": f"http://127.0.0.1:{port}", "IDP_CLIENTS": webapp_clients(),
        "IDP_PASSWORD_HASH": QA_HASH, "CREATE_TABLES_WITHOUT_MIGRATIONS": True,  # as tests/ do
    })
    with idp_app.app_context():
        seed_idp()
        seed_personal_accounts(flows + 5)
    idp_counter = CountingMiddleware(idp_app.wsgi_app)
    idp_app.wsgi_app = idp_counter
    server = LiveServer(idp_app, port).start()
    try:
        app = create_app(webapp_config(server.url, f"sqlite:///{folder / 'webapp.sqlite'}"))
        with app.app_context():
            seed_webapp()
        web_counter = CountingMiddleware(app.wsgi_app)
        app.wsgi_app = web_counter
        browser = Browser(app.test_client())
        sign_in(browser, "alex@contoso.com")
        run_flows(browser, flows, 3, 60, browser.http.cookies.clear)  # warm-up: discovery, JWKS

        web_counter.count = idp_counter.count = 0
        client, http = app.test_client(), requests.Session()

        def trivial(web_requests: int, idp_requests: int) -> None:
            for _ in range(web_requests):
                client.get("/healthz")
            for _ in range(idp_requests):
                http.get(f"{server.url}/healthz", timeout=10)
            web_counter.count -= web_requests  # the counters count the flows' requests only
            idp_counter.count -= idp_requests

        with HashTimer().installed() as hashes:
            result = measure_rounds(browser, flows, seconds, browser.http.cookies.clear, trivial,
                                    lambda done: (web_counter.count / done, idp_counter.count / done))
    finally:
        server.stop()
    done = result["flows"]
    result.update(hash_calls=hashes.calls / done, hash_ms=hashes.seconds / done * 1000)
    return finish(result, hashes.seconds / done)


# Short rounds: the machine's speed drifts within seconds, and a drift should hit both sides alike.
ROUNDS = 15


def measure_rounds(browser, flows: int, seconds: float, forget_provider, trivial, per_flow,
                   server_cpu=None, flow=one_flow) -> dict:
    """Alternate batches of flows with batches of as many trivial requests, so that load from
    other processes hits both alike; the ratio is the median over the rounds."""
    batch = max(1, flows // ROUNDS)
    deadline = Deadline(seconds)
    done, flow_time, trivial_time, ratios = 0, 0.0, 0.0, []
    cpu_probe = server_cpu or (lambda: 0.0)
    flow_cpu = trivial_cpu = 0.0
    for round_no in range(ROUNDS):
        cpu = cpu_probe()
        n, elapsed = run_flows(browser, done, batch, seconds / ROUNDS, forget_provider, flow)
        flow_cpu += cpu_probe() - cpu
        web, idp = per_flow(done + n)
        cpu = cpu_probe()
        started = time.perf_counter()
        trivial(round(web * n), round(idp * n))
        spent = time.perf_counter() - started
        trivial_cpu += cpu_probe() - cpu
        done += n
        flow_time += elapsed
        trivial_time += spent
        ratios.append((elapsed, spent, n))
        if deadline.over():
            break
    web, idp = per_flow(done)
    return {"flows": done, "seconds": flow_time, "trivial_seconds": trivial_time, "rounds": ratios,
            "web_requests": web, "idp_requests": idp, "server_cpu_flow": flow_cpu,
            "server_cpu_trivial": trivial_cpu}


def finish(result: dict, hash_seconds_per_flow: float) -> dict:
    done = result["flows"]
    per_round = sorted((elapsed / n - hash_seconds_per_flow) / (spent / n)
                       for elapsed, spent, n in result.pop("rounds"))
    result.update(
        flows_per_s=done / result["seconds"],
        flow_ms=(result["seconds"] / done - hash_seconds_per_flow) * 1000,
        trivial_ms=result["trivial_seconds"] / done * 1000,
        ratio=per_round[len(per_round) // 2],
    )
    return result

class HttpBrowser:
    """tests.fixtures.browser.Browser with every hop over real HTTP (webapp under gunicorn too)."""

    def __new__(cls, base: str):
        from tests.fixtures.browser import Browser

        class _HttpBrowser(Browser):
            def _is_webapp(self, url):
                return False

            def open(self, url, method="GET", data=None, follow=True):
                return super().open(urljoin(base, url), method, data, follow)

        return _HttpBrowser(client=None)


class HttpStack:
    """Both apps under gunicorn (the webapp on 127.0.0.1, the providers on localhost), their
    databases built as in production, and a browser signed in at the webapp."""

    def __init__(self, browser, web_url: str, idp_url: str, web, idp):
        self.browser, self.web_url, self.idp_url, self.web, self.idp = browser, web_url, idp_url, web, idp
        self.http = requests.Session()

    def forget_provider(self) -> None:
        """A new sign-in at the provider for every flow: drop its cookies, keep the webapp's."""
        jar = self.browser.http.cookies
        for cookie in list(jar):
            if cookie.domain.startswith("localhost"):
                jar.clear(cookie.domain, cookie.path, cookie.name)

    def trivial(self, web_requests: int, idp_requests: int) -> None:
        for _ in range(web_requests):
            self.http.get(f"{self.web_url}/healthz", timeout=10)
        for _ in range(idp_requests):
            self.http.get(f"{self.idp_url}/healthz", timeout=10)

    def server_cpu(self) -> float:
        return cpu_seconds([self.idp.proc.pid, self.web.proc.pid] + self.idp.children() + self.web.children())


@contextmanager
def http_stack(name: str, accounts: int, web_spec: str = "wsgi:app", idp_spec: str = "wsgi:idp_app"):
    import idp_mock
    from bench.bare_flow import PEER_URL
    from idp_mock.demo import seed_demo as seed_idp
    from tests.fixtures.servers import webapp_clients
    from tests.fixtures.flows import sign_in
    from webapp import create_app
    from webapp.demo.seed import seed_demo as seed_webapp

    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.sqlite"):
        old.unlink()
    web_port, idp_port = free_port(), free_port()
    web_url, idp_url = f"http://127.0.0.1:{web_port}", f"http://localhost:{idp_port}"
    clients = webapp_clients(web_url)
    idp_db, web_db = f"sqlite:///{folder / 'idp.sqlite'}", f"sqlite:///{folder / 'webapp.sqlite'}"
    env = webapp_env(web_db, idp_url, clients[0]["client_secret"], clients[1]["client_secret"])
    migrate("idp_mock", idp_env(idp_db, idp_url, clients))
    migrate("webapp", env)
    idp_app = idp_mock.create_app({"SQLALCHEMY_DATABASE_URI": idp_db, "IDP_PUBLIC_URL": idp_url,
                                   "IDP_CLIENTS": clients, "IDP_PASSWORD_HASH": QA_HASH})
    with idp_app.app_context():
        seed_idp()
        seed_personal_accounts(accounts)
    app = create_app({"SQLALCHEMY_DATABASE_URI": web_db, "PASSWORD_HASH_METHOD": QA_HASH})
    with app.app_context():
        seed_webapp()

    idp = gunicorn(f"{name}-idp", idp_spec, idp_port,
                   {**idp_env(idp_db, idp_url, clients), PEER_URL: web_url})
    web = gunicorn(f"{name}-webapp", web_spec, web_port, {**env, PEER_URL: idp_url})
    with running(idp, f"{idp_url}/healthz"), running(web, f"{web_url}/login"):
        browser = HttpBrowser(web_url)
        sign_in(browser, "alex@contoso.com")
        yield HttpStack(browser, web_url, idp_url, web, idp)


def over_http(flows: int, seconds: float, per_flow: dict | None) -> dict:
    """The same flows against gunicorn, with the production entry points."""
    per_flow = per_flow or {"web_requests": 7, "idp_requests": 5, "hash_calls": 2}
    with http_stack("flow-http", flows + 5) as stack:
        run_flows(stack.browser, flows, 3, 60, stack.forget_provider)  # warm-up: discovery, JWKS
        result = measure_rounds(stack.browser, flows, seconds, stack.forget_provider, stack.trivial,
                                lambda done: (per_flow["web_requests"], per_flow["idp_requests"]),
                                stack.server_cpu)
        result["layout_floor"] = layout_floor(stack.browser.http, f"{stack.web_url}/no-such-page",
                                              stack.http, f"{stack.web_url}/healthz")
    hash_ms = per_flow["hash_calls"] * verify_ms(QA_HASH, 50)
    result["hash_ms"] = hash_ms
    result["hops"] = hop_times({"webapp": stack.web.log_path, "provider": stack.idp.log_path})
    # The servers' own CPU: the same ratio without the client's share, steadier on a busy machine.
    if result["server_cpu_trivial"] > 0:
        result["cpu_ratio"] = (result["server_cpu_flow"] - hash_ms / 1000 * result["flows"]) \
            / result["server_cpu_trivial"]
    return finish(result, hash_ms / 1000)


def bare_over_http(flows: int, seconds: float) -> dict:
    """The flow's floor (bench/bare_flow.py): its hops doing nothing else, measured like the
    flow against as many /healthz requests, on the same apps with the bare routes added."""
    from bench.bare_flow import one_bare_flow

    with http_stack("bare-http", 0, "bench.bare_flow:web_app", "bench.bare_flow:idp_app") as stack:
        run_flows(stack.browser, 0, 3, 60, stack.forget_provider, one_bare_flow)  # warm-up
        result = measure_rounds(stack.browser, flows, seconds, stack.forget_provider, stack.trivial,
                                lambda done: (7, 5), stack.server_cpu, one_bare_flow)
    return finish(result, 0.0)


def layout_floor(signed_in, page_url: str, anonymous, trivial_url: str,
                 count: int = 300) -> tuple[float, float]:
    """Per-request wall time (ms) of a signed-in page that shows nothing but the layout (the
    404 page: the user, the clock, the navigation, the language switch) and of /healthz, in
    alternating batches: about the least any page of the flow can cost."""
    first = signed_in.get(page_url, timeout=10)
    if first.status_code != 404 or "/logout" not in first.text:
        raise RuntimeError(f"{page_url} is not the signed-in 404 page ({first.status_code})")
    batch = max(1, count // ROUNDS)
    page_seconds = trivial_seconds = 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(batch):
            signed_in.get(page_url, timeout=10)
        page_seconds += time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(batch):
            anonymous.get(trivial_url, timeout=10)
        trivial_seconds += time.perf_counter() - started
    done = batch * ROUNDS
    return page_seconds / done * 1000, trivial_seconds / done * 1000


def hop_times(logs: dict) -> list[tuple[str, float, float]]:
    """Where a flow's server time goes: each hop's median duration in the servers' own JSON
    request log (time inside the app, from the first request hook to the response), with how
    many times a flow makes it. Sign-in, /healthz, the layout floor's page, discovery and JWKS
    are left out."""
    durations: dict[str, list[float]] = {}
    for server, path in logs.items():
        for line in Path(path).read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            route = entry.get("path", "")
            if entry.get("message") != "request" or route in ("/healthz", "/login", "/no-such-page") or \
                    route.endswith(("/.well-known/openid-configuration", "/jwks.json")):
                continue
            route = re.sub(r"^/link/[\w-]+/", "/link/<provider>/", route)
            durations.setdefault(f"{server} {entry.get('method')} {route}", []).append(
                float(entry.get("duration_ms", 0)))
    flows = len(durations.get("webapp GET /link/<provider>/callback", [])) or 1
    hops = [(label, len(values) / flows, statistics.median(values)) for label, values in durations.items()]
    return sorted(hops, key=lambda hop: -hop[1] * hop[2])
