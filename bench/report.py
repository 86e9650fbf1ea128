"""Figure 3: the Skills report CSV download for 10k and 100k work users (5 achievements each),
served by gunicorn (one worker), against the floor: ``sqlite3 -csv`` exporting the same rows.

Time is the whole download as a client sees it; memory is the worker's peak resident set
(VmHWM) after the download, which must stay flat as the data grows (a streamed response).
"""
from __future__ import annotations

import os
import re
import subprocess
import time

from bench import datagen
from bench.servers import QA_HASH, SECRET, free_port, gunicorn, rss_peak_mb, running

CSV_PATTERNS = [r"skills.*(csv|download|export)", r"(csv|download|export).*skills"]

# The floor: the same rows the report lists — each reportable link (active, of a current user)
# with its user and organization, and its credited certifications and assessments.
FLOOR_SQL = """
SELECT u.email, u.display_name, o.name, o.partner_id, l.provider, l.mcid, l.email,
       a.kind, a.code, a.title, a.level, a.completed_on, a.credit_on
FROM linked_accounts l
JOIN work_users u ON u.id = l.work_user_id
JOIN organizations o ON o.id = l.organization_id
LEFT JOIN achievements a ON a.link_id = l.id AND a.kind IN ('certification', 'assessment')
     AND a.credit_on <= date('now')
WHERE o.partner_id = '{partner_id}' AND l.ended_at IS NULL AND u.deleted_at IS NULL
ORDER BY l.work_user_id, l.id, a.completed_on;
"""


def find_csv_url(app) -> str | None:
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and not r.arguments]
    for pattern in CSV_PATTERNS:
        for rule in sorted(rules, key=lambda r: r.rule):
            if re.search(pattern, rule.endpoint) or re.search(pattern, rule.rule):
                return rule.rule
    return None


def floor(path: str) -> tuple[float, float, int]:
    """Seconds, peak memory (MB) and rows of sqlite3 -csv exporting the same rows."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(["sqlite3", "-csv", "-header", path,
                                 FLOOR_SQL.format(partner_id=datagen.ORG_PARTNER_ID)], stdout=subprocess.PIPE)
        rows = 0
        for chunk in iter(lambda: proc.stdout.read(1 << 16), b""):
            rows += chunk.count(b"\n")
            sink.write(chunk)
        _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError("sqlite3 failed")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, rows - 1


def download(path: str, url: str) -> tuple[float, float, int, int]:
    """Seconds, worker peak memory (MB), data rows and HTTP status of one CSV download."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": SECRET, "PASSWORD_HASH_METHOD": QA_HASH}
    server = gunicorn(f"report-{os.path.basename(path)}", "wsgi:app", port, env,
                      workers=1)
    with running(server, f"{base}/login"):
        from bench.linkflow import HttpBrowser
        from tests.fixtures.flows import sign_in

        browser = HttpBrowser(base)
        sign_in(browser, datagen.ADMIN_EMAIL, datagen.PASSWORD)
        [worker] = server.children()
        started = time.perf_counter()
        response = browser.http.get(base + url, stream=True, timeout=120)
        rows = 0
        for chunk in response.iter_content(1 << 16):
            rows += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
        peak = rss_peak_mb(worker) or 0.0
    return elapsed, peak, rows - 1, response.status_code


def run(quick: bool) -> list:
    from bench.run import Row
    from webapp import create_app

    url = find_csv_url(create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}))
    if url is None:
        return [Row("Skills report CSV", "not on main yet (harness and data generator ready)",
                    "100k: <= 3 s, <= 3x floor, < 150 MB, flat", None)]
    rows, peaks = [], {}
    for users in (10_000, 100_000):
        path = datagen.database_for(users)
        floor_s, floor_mb, floor_rows = floor(path)
        seconds, peak, got_rows, status = download(path, url)
        peaks[users] = peak
        label = f"Skills report CSV, {users // 1000}k users"
        if status != 200:
            rows.append(Row(label, f"HTTP {status}", "200", False))
            continue
        rows.append(Row(f"{label}: time ({got_rows} rows; floor {floor_rows} rows)",
                        f"{seconds:.2f} s (floor sqlite3 -csv {floor_s:.2f} s, {seconds / floor_s:.1f}x)",
                        "<= 3 s and <= 3x floor" if users == 100_000 else "",
                        (seconds <= 3 and seconds <= 3 * floor_s) if users == 100_000 else None))
        rows.append(Row(f"{label}: worker peak memory", f"{peak:.0f} MB (sqlite3 {floor_mb:.0f} MB)",
                        "< 150 MB" if users == 100_000 else "", peak < 150 if users == 100_000 else None))
    if len(peaks) == 2:
        growth = peaks[100_000] - peaks[10_000]
        rows.append(Row("Skills report CSV: memory growth 10k -> 100k users", f"{growth:+.0f} MB",
                        "flat (streamed): < +20 MB", growth < 20))
    return rows
