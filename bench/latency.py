"""Figure 5: latency under load with wrk (20 connections, 10 s each) against gunicorn:
My Learn profile (authenticated: the session cookie is passed with -H) and the Microsoft Learn
provider's discovery document and JWKS."""
from __future__ import annotations

import json
import re
import subprocess

from bench import datagen
from bench.servers import (QA_HASH, SECRET, WORK, cpu_seconds, free_port, gunicorn, idp_env, migrate,
                           running)

CONNECTIONS = 20
WORKERS = 2  # one per core


def wrk(url: str, seconds: int, header: str | None = None) -> dict:
    argv = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if header:
        argv += ["-H", header]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
    result = {"raw": out}

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    for label in ("50%", "99%"):
        m = re.search(rf"^\s*{re.escape(label)}\s+(\S+)", out, re.M)
        result[label] = ms(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    result["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["errors"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:.*", out)
    result["socket_errors"] = m.group(0) if m else ""
    return result


def run(quick: bool) -> list:
    from bench.linkflow import HttpBrowser
    from bench.run import Row
    from tests.fixtures.flows import sign_in

    seconds = 3 if quick else 10
    path = datagen.database_for(100)
    web_port, idp_port = free_port(), free_port()
    web_url, idp_url = f"http://127.0.0.1:{web_port}", f"http://localhost:{idp_port}"
    idp_db = WORK / "latency-idp.sqlite"
    for old in WORK.glob("latency-idp.sqlite*"):
        old.unlink()
    migrate("idp_mock", idp_env(f"sqlite:///{idp_db}", idp_url, []))
    import idp_mock  # signing keys exist before the workers start
    idp_mock.create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{idp_db}", "IDP_PUBLIC_URL": idp_url,
                         "IDP_CLIENTS": [], "IDP_PASSWORD_HASH": QA_HASH})
    web = gunicorn("latency-webapp", "wsgi:app", web_port, {
        "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": SECRET, "PASSWORD_HASH_METHOD": QA_HASH},
        workers=WORKERS)
    idp = gunicorn("latency-idp", "wsgi:idp_app", idp_port,
                   idp_env(f"sqlite:///{idp_db}", idp_url, []), workers=WORKERS)
    rows = []
    with running(web, f"{web_url}/login"), running(idp, f"{idp_url}/healthz"):
        browser = HttpBrowser(web_url)
        page = sign_in(browser, datagen.ADMIN_EMAIL, datagen.PASSWORD)
        if not page.url.endswith("/profile"):
            raise RuntimeError(f"bench admin could not sign in: {page.url}")
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies if c.name == "pc_session")
        targets = [
            ("My Learn profile (signed in)", f"{web_url}/profile", f"Cookie: {cookie}"),
            ("Learn discovery", f"{idp_url}/learn/.well-known/openid-configuration", None),
            ("Learn JWKS", f"{idp_url}/learn/jwks.json", None),
        ]
        for label, url, header in targets:
            check = browser.http.get(url, allow_redirects=False, timeout=10)
            if check.status_code != 200:
                rows.append(Row(f"Latency: {label}", f"HTTP {check.status_code} before load", "200", False))
                continue
            server = web if url.startswith(web_url) else idp
            pids = [server.proc.pid] + server.children()
            cpu = cpu_seconds(pids)
            result = wrk(url, seconds, header)
            cpu_ms = (cpu_seconds(pids) - cpu) / max(1, result["requests"]) * 1000
            p50, p99 = result["50%"], result["99%"]
            if p99 is None:
                rows.append(Row(f"Latency: {label}", "wrk gave no result", "", False))
                continue
            bad = result["errors"]
            value = f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {result['rps']:.0f} req/s, " \
                    f"server CPU {cpu_ms:.1f} ms/req" + (
                f", {bad} non-2xx" if bad else "")
            rows.append(Row(f"Latency ({CONNECTIONS} conns, {seconds} s): {label}", value, "p99 <= 50 ms",
                            p99 <= 50 and bad == 0))
    return rows


if __name__ == "__main__":
    print(json.dumps(wrk("http://127.0.0.1:9/", 1), indent=1))
