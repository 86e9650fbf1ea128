"""Figure 6: the data refresh of 10k and 100k linked users with 5 transcript items each, over real
HTTP to the Learn provider (gunicorn, 2 workers), as `flask --app webapp refresh-data` runs it: a
separate process, so its wall time and peak memory (ru_maxrss) are the refresh's own.

First run: the achievements table is empty, every item is added (5 x N rows written). Second run:
nothing changed (every item read and compared). The floor reads the same rows from the transcript
tables directly: ``sqlite3`` joining the webapp's links to the provider's accounts and items
(ATTACH), all rows to /dev/null.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time

from sqlalchemy import create_engine, insert, text

from bench import datagen
from bench.servers import (PYTHON, QA_HASH, REPO, WORK, cpu_seconds, free_port, gunicorn, idp_env, migrate,
                           running, webapp_env)

FLOOR_SQL = """
ATTACH DATABASE '{idp}' AS idp;
SELECT l.id, i.public_id, i.kind, i.code, i.title, i.level, i.completed_at
FROM linked_accounts l
JOIN work_users u ON u.id = l.work_user_id
JOIN idp.idp_accounts a ON a.issuer = 'learn' AND a.subject = l.subject
JOIN idp.idp_transcript_items i ON i.profile_id = a.profile_id
WHERE l.organization_id = (SELECT id FROM organizations WHERE partner_id = '{partner_id}')
  AND l.ended_at IS NULL AND u.deleted_at IS NULL
ORDER BY l.work_user_id, l.id;
"""


def provider_database(users: int, idp_url: str, clients: list[dict]) -> str:
    """A Learn provider database whose accounts carry the bench links' subjects, 5 items each."""
    folder = WORK / "data"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"idp-transcripts-{users}-{datagen.schema_fingerprint()}.sqlite"
    if path.exists():
        return str(path)
    for old in folder.glob(f"idp-transcripts-{users}-*.sqlite*"):
        old.unlink()
    tmp = folder / f"building-idp-{users}.sqlite"
    for old in folder.glob(f"building-idp-{users}.sqlite*"):
        old.unlink()
    url = f"sqlite:///{tmp}"
    migrate("idp_mock", idp_env(url, idp_url, clients))
    from werkzeug.security import generate_password_hash
    hashed = generate_password_hash(datagen.PASSWORD, method=QA_HASH)
    now = dt.datetime(2026, 11, 1, 9, 0, 0)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
        meta_tables = {name: conn.dialect.has_table(conn, name) for name in ("idp_profiles",)}
        assert all(meta_tables.values())
        import idp_mock.models as m
        conn.execute(insert(m.LearnProfile), [
            {"issuer": "learn", "display_name": f"Learner {n:06d}", "mcid": f"{600_000_000 + n}",
             "created_at": now} for n in range(users)])
        first = conn.execute(text("SELECT min(id) FROM idp_profiles")).scalar()
        conn.execute(insert(m.Account), [
            {"issuer": "learn", "profile_id": first + n, "email": f"learner{n:06d}@outlook.com",
             "password_hash": hashed, "kind": "personal", "subject": f"bench-sub-{n}",
             "session_nonce": f"nonce{n}", "created_at": now} for n in range(users)])
        batch = []
        for n in range(users):
            for k, (kind, code, title, level) in enumerate(datagen.ITEMS[:datagen.ACHIEVEMENTS_PER_USER]):
                batch.append({"public_id": f"tr-b{n}-{k}", "profile_id": first + n, "kind": kind,
                              "code": code, "title": title, "level": level,
                              "completed_at": (now - dt.timedelta(days=5 + k * 7)).date()})
            if len(batch) >= 50_000:
                conn.execute(insert(m.TranscriptItem), batch)
                batch = []
        if batch:
            conn.execute(insert(m.TranscriptItem), batch)
    engine.dispose()
    shutil.move(tmp, path)
    return str(path)


def refresh_process(env: dict) -> tuple[float, float, str, float]:
    """Seconds, peak memory (MB), output and CPU seconds of one `flask --app webapp refresh-data`."""
    started = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-m", "flask", "--app", "webapp", "refresh-data"], cwd=str(REPO),
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode(errors="replace")
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"refresh-data failed: {out[-1500:]}")
    return (time.perf_counter() - started, usage.ru_maxrss / 1024, out.strip().splitlines()[-1],
            usage.ru_utime + usage.ru_stime)


def floor(web_db: str, idp_db: str) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen(["sqlite3", web_db, FLOOR_SQL.format(idp=idp_db, partner_id=datagen.ORG_PARTNER_ID)],
                            stdout=subprocess.PIPE)
    rows = 0
    for chunk in iter(lambda: proc.stdout.read(1 << 16), b""):
        rows += chunk.count(b"\n")
    if proc.wait() != 0:
        raise RuntimeError("sqlite3 failed")
    return time.perf_counter() - started, rows


def measure(users: int) -> dict:
    from tests.fixtures.servers import webapp_clients

    idp_port = free_port()
    idp_url = f"http://localhost:{idp_port}"
    clients = webapp_clients("http://127.0.0.1:9")
    idp_db = provider_database(users, idp_url, clients)
    web_db = str(WORK / "data" / f"refresh-webapp-{users}.sqlite")
    for old in (WORK / "data").glob(f"refresh-webapp-{users}.sqlite*"):
        old.unlink()
    shutil.copy(datagen.database_for(users), web_db)
    with create_engine(f"sqlite:///{web_db}").begin() as conn:  # a first refresh: nothing read yet
        conn.execute(text("DELETE FROM achievements"))
    import idp_mock  # registers the clients in the provider database
    idp_mock.create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{idp_db}", "IDP_PUBLIC_URL": idp_url,
                         "IDP_CLIENTS": clients, "IDP_PASSWORD_HASH": QA_HASH})
    env = webapp_env(f"sqlite:///{web_db}", idp_url, clients[0]["client_secret"], clients[1]["client_secret"])
    env["OIDC_HTTP_TIMEOUT"] = "30"
    idp = gunicorn(f"refresh-idp-{users}", "wsgi:idp_app", idp_port, idp_env(f"sqlite:///{idp_db}", idp_url, clients),
                   workers=2)
    with running(idp, f"{idp_url}/healthz"):
        pids = [idp.proc.pid] + idp.children()
        cpu = cpu_seconds(pids)
        first = refresh_process(env)
        cpu_first = cpu_seconds(pids) - cpu
        second = refresh_process(env)
        cpu_second = cpu_seconds(pids) - cpu - cpu_first
    first, second = (*first, cpu_first), (*second, cpu_second)
    floor_s, floor_rows = floor(web_db, idp_db)
    return {"first": first, "second": second, "floor": (floor_s, floor_rows)}


def run(quick: bool) -> list:
    from bench.run import Row

    rows, peaks = [], {}
    for users in ((10_000,) if quick else (10_000, 100_000)):
        result = measure(users)
        (s1, mb1, out1, cpu1, idp1), (s2, mb2, out2, cpu2, idp2) = result["first"], result["second"]
        floor_s, floor_rows = result["floor"]
        peaks[users] = max(mb1, mb2)
        label = f"Data refresh, {users // 1000}k linked users x 5 items"
        big = users == 100_000
        rows.append(Row(f"{label}: first run (all added)", f"{s1:.1f} s, peak {mb1:.0f} MB, CPU {cpu1:.1f} s + provider {idp1:.1f} s ({out1})",
                        "< 60 s" if big else "", s1 < 60 if big else None))
        rows.append(Row(f"{label}: second run (no changes)", f"{s2:.1f} s, peak {mb2:.0f} MB, CPU {cpu2:.1f} s + provider {idp2:.1f} s ({out2})",
                        "< 60 s" if big else "", s2 < 60 if big else None))
        rows.append(Row(f"{label}: floor, the same {floor_rows} rows read from the transcript tables",
                        f"{floor_s:.2f} s (sqlite3; refresh {s1 / floor_s:.0f}x / {s2 / floor_s:.0f}x)", "", None))
    if len(peaks) == 2:
        growth = peaks[100_000] - peaks[10_000]
        rows.append(Row("Data refresh: memory growth 10k -> 100k users", f"{growth:+.0f} MB",
                        "flat: < +20 MB", growth < 20))
    return rows
