"""Skills report at scale: CSV download time and peak memory, report pages' time.

    .venv/bin/python bench/skills_report.py                  # 10k and 100k work users
    .venv/bin/python bench/skills_report.py --users 100000 --database-url postgresql+psycopg://...

Each size gets a fresh database with one organization, N linked work users and five achievements
each (four credited certifications/assessments, one training). The download is measured in a
separate process (so its peak RSS is the download's, not the seeding's) through the webapp's WSGI
stack, reading the streamed body chunk by chunk. Targets: CSV for 100k users <= 3 s, peak < 150 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CSV_SECONDS_TARGET = 3.0
PEAK_MB_TARGET = 150
ITEMS = [("certification", "AZ-104", "Microsoft Certified: Azure Administrator Associate", "intermediate"),
         ("certification", "AZ-305", "Microsoft Certified: Azure Solutions Architect Expert", "advanced"),
         ("assessment", "ASSESS-AI", "Azure AI Solutions Assessment", "intermediate"),
         ("certification", "SC-200", "Microsoft Certified: Security Operations Analyst Associate", "intermediate"),
         ("training", "TRAIN-AZ-FUND", "Azure Fundamentals learning path", None)]


def make_app(database_url: str):
    from webapp import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True,
                       "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench"})


def seed(database_url: str, users: int) -> float:
    from sqlalchemy import insert

    from webapp.extensions import db
    from webapp.models import Achievement, LearningIdentity, LinkedAccount, Organization, WorkUser

    app = make_app(database_url)
    started = time.perf_counter()
    with app.app_context():
        db.drop_all()
        db.create_all()
        linked = datetime(2026, 1, 2, 9, 0)
        db.session.execute(insert(Organization), [{"id": 1, "name": "Northwind", "partner_id": "5550001",
                                                    "created_at": linked}])
        db.session.execute(insert(WorkUser), [{"id": 1, "organization_id": 1, "email": "admin@northwind.example",
                                               "display_name": "Ada Admin", "password_hash": "-",
                                               "roles": "global_admin", "created_at": linked}])
        batch = 10_000
        for start in range(2, users + 2, batch):
            ids = range(start, min(users + 2, start + batch))
            db.session.execute(insert(WorkUser), [
                {"id": i, "organization_id": 1, "email": f"user{i:07d}@northwind.example",
                 "display_name": f"User {i}", "password_hash": "-", "roles": "", "created_at": linked}
                for i in ids])
            db.session.execute(insert(LearningIdentity), [
                {"id": i, "provider": "learn", "identity_key": str(100_000_000 + i), "association_count": 1}
                for i in ids])
            db.session.execute(insert(LinkedAccount), [
                {"id": i, "work_user_id": i, "organization_id": 1, "identity_id": i, "provider": "learn",
                 "issuer": "http://localhost:5001/learn", "subject": f"sub-{i}", "email": f"p{i}@outlook.com",
                 "display_name": f"Person {i}", "mcid": str(100_000_000 + i), "linked_at": linked}
                for i in ids])
            db.session.execute(insert(Achievement), [
                {"work_user_id": i, "link_id": i, "organization_id": 1, "provider": "learn",
                 "item_id": f"tr-{i}-{k}", "kind": kind, "code": code, "title": title, "level": level,
                 "completed_on": date(2025, 12, 1) + timedelta(days=k), "credit_on": date(2026, 1, 12),
                 "changed_at": linked}
                for i in ids for k, (kind, code, title, level) in enumerate(ITEMS)])
            db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's before exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(database_url: str) -> dict:
    """Run in a child process: download the CSV and time the report pages as the admin."""
    app = make_app(database_url)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1"
        session["_fresh"] = True
    client.get("/reports/skills?page=1")  # warm up templates and caches
    baseline = peak_rss_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    response = client.get("/reports/skills.csv", buffered=False)
    size = lines = 0
    for chunk in response.response:
        chunk = chunk.encode() if isinstance(chunk, str) else chunk
        size += len(chunk)
        lines += chunk.count(b"\n")
    response.close()
    csv_seconds, csv_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak = peak_rss_mb()
    pages = {}
    for path in ("/reports/skills?page=1", "/reports/skills?page=100000", "/reports/learn-analytics?page=1",
                 "/reports/skilling-points"):
        started = time.perf_counter()
        status = client.get(path).status_code
        pages[path] = {"status": status, "seconds": round(time.perf_counter() - started, 3)}
    return {"csv_status": response.status_code, "content_type": response.headers["Content-Type"],
            "csv_seconds": round(csv_seconds, 2), "csv_cpu_seconds": round(csv_cpu, 2), "csv_bytes": size, "csv_lines": lines,
            "rss_before_mb": round(baseline), "rss_peak_mb": round(peak), "pages": pages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database-url", help="use this (emptied!) database instead of a temporary SQLite file")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0

    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for users in args.users:
            url = args.database_url or f"sqlite:///{tmp}/bench-{users}.sqlite"
            seeded = seed(url, users)
            child = subprocess.run([sys.executable, __file__, "--measure", url], capture_output=True, text=True,
                                   cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
            if child.returncode != 0:
                print(child.stderr[-3000:], file=sys.stderr)
                return 2
            result = json.loads(child.stdout.strip().splitlines()[-1])
            ok = (result["csv_status"] == 200 and result["csv_lines"] == users * 4 + 1
                  and (users < 100_000 or result["csv_seconds"] <= CSV_SECONDS_TARGET)
                  and result["rss_peak_mb"] < PEAK_MB_TARGET)
            failed |= not ok
            print(f"{users:>7} users  seeded in {seeded:5.1f} s  CSV {result['csv_lines'] - 1} rows, "
                  f"{result['csv_bytes'] / 1e6:.1f} MB in {result['csv_seconds']:.2f} s "
                  f"(CPU {result['csv_cpu_seconds']:.2f} s, load {os.getloadavg()[0]:.1f})  "
                  f"peak RSS {result['rss_peak_mb']} MB (before {result['rss_before_mb']} MB)  "
                  f"{'OK' if ok else 'MISSED TARGET'}")
            for path, page in result["pages"].items():
                print(f"         {path:<36} {page['status']} in {page['seconds']:.3f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
