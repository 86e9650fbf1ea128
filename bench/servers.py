"""Servers the benchmark starts on 127.0.0.1 and always stops: gunicorn, the peers, timers."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / ".work"
PYTHON = sys.executable
QA_HASH = "pbkdf2:sha256:1000"  # the QA configuration: cheap, set explicitly (production keeps scrypt)
SECRET = "bench-secret-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process in its own process group, stopped by its id (never by name)."""

    def __init__(self, name: str, argv: list[str], env: dict | None = None, cwd: Path | None = None):
        self.name = name
        WORK.mkdir(parents=True, exist_ok=True)
        self.log_path = WORK / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=str(cwd or REPO),
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}:\n{self.tail()}")
            try:
                if requests.get(url, timeout=1).status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {url} in {timeout}s; see {self.log_path}")

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def children(self) -> list[int]:
        try:
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        except FileNotFoundError:
            return []
        return [int(p) for p in out.stdout.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()


@contextmanager
def running(process: Process, ready_url: str):
    try:
        process.wait_http(ready_url)
        yield process
    finally:
        process.stop()


def gunicorn(name: str, app_spec: str, port: int, env: dict, workers: int = 2,
             threads: int = 1) -> Process:
    """gunicorn serving an app factory, as in production (access log off: it is not measured)."""
    argv = [PYTHON, "-m", "gunicorn", app_spec, "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--threads", str(threads), "--log-level", "warning",
            "--graceful-timeout", "2", "--timeout", "60"]
    return Process(name, argv, env=env)


def migrate(app_module: str, env: dict) -> None:
    """Build a database's schema as production does: ``flask --app <app> db upgrade``."""
    done = subprocess.run([PYTHON, "-m", "flask", "--app", app_module, "db", "upgrade"],
                          env={**os.environ, **env}, cwd=str(REPO), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"flask --app {app_module} db upgrade failed:\n{done.stderr[-2000:]}")


def idp_env(db_url: str, public_url: str, clients: list[dict]) -> dict:
    return {"IDP_DATABASE_URL": db_url, "IDP_PUBLIC_URL": public_url, "IDP_CLIENTS": json.dumps(clients),
            "IDP_PASSWORD_HASH": QA_HASH, "IDP_SECRET_KEY": SECRET}


def webapp_env(db_url: str, idp_url: str, learn_secret: str, pu_secret: str) -> dict:
    return {
        "DATABASE_URL": db_url, "SECRET_KEY": SECRET, "PASSWORD_HASH_METHOD": QA_HASH,
        "IDP_PUBLIC_URL": idp_url,
        "LEARN_OIDC_DISCOVERY_URL": f"{idp_url}/learn/.well-known/openid-configuration",
        "LEARN_CLIENT_ID": "partner-center-learn", "LEARN_CLIENT_SECRET": learn_secret,
        "PARTNER_UNIVERSITY_OIDC_DISCOVERY_URL":
            f"{idp_url}/partner-university/.well-known/openid-configuration",
        "PARTNER_UNIVERSITY_CLIENT_ID": "partner-center-pu",
        "PARTNER_UNIVERSITY_CLIENT_SECRET": pu_secret,
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of live processes (not their children), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def rss_peak_mb(pid: int) -> float | None:
    """Peak resident memory (VmHWM) of a live process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Deadline:
    """Bounds a load loop in time as well as in count."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def over(self) -> bool:
        return time.monotonic() > self.end
