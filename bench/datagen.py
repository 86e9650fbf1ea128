"""Bulk data for the size-dependent figures: one organization with N work users, each with a
Microsoft Learn link and 5 achievements (when the achievements table exists).

Rows go in with SQLAlchemy Core executemany inserts, in one transaction per table; a database is
reused while the schema (every table and column) and N are unchanged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import shutil

from sqlalchemy import insert
from werkzeug.security import generate_password_hash

from bench.servers import QA_HASH, WORK, migrate

ORG_NAME, ORG_PARTNER_ID = "Bench Org", "9990001"
ADMIN_EMAIL = "bench.admin@bench.example"
ADMIN_ROLES = "global_admin account_admin partner_admin"
PASSWORD = "Passw0rd!"
ACHIEVEMENTS_PER_USER = 5
ITEMS = [
    ("certification", "AZ-104", "Microsoft Certified: Azure Administrator Associate", "intermediate"),
    ("certification", "AZ-305", "Microsoft Certified: Azure Solutions Architect Expert", "advanced"),
    ("assessment", "ASSESS-AZ-SEC", "Azure Security Technical Assessment", "intermediate"),
    ("training", "TRAIN-AZ-FUND", "Azure Fundamentals learning path", None),
    ("certification", "SC-900", "Microsoft Certified: Security, Compliance, and Identity Fundamentals", None),
]


def schema_fingerprint() -> str:
    from webapp.extensions import db
    import webapp.models  # noqa: F401
    import webapp.skilling_summary  # noqa: F401

    parts = []
    for table in sorted(db.metadata.tables.values(), key=lambda t: t.name):
        parts.append(table.name + ":" + ",".join(sorted(c.name for c in table.columns)))
        parts.extend(sorted(str(i.name) for i in table.indexes))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def database_for(users: int) -> str:
    """Path of a generated webapp database with ``users`` work users (built when missing)."""
    folder = WORK / "data"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"webapp-{users}-{schema_fingerprint()}.sqlite"
    if not path.exists():
        for old in folder.glob(f"webapp-{users}-*.sqlite*"):
            old.unlink()
        tmp = folder / f"building-{users}.sqlite"
        for old in folder.glob(f"building-{users}.sqlite*"):
            old.unlink()
        generate(f"sqlite:///{tmp}", users)
        shutil.move(tmp, path)
    return str(path)


def generate(url: str, users: int) -> None:
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import LearningIdentity, LinkedAccount, Organization, WorkUser

    migrate("webapp", {"DATABASE_URL": url})
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": QA_HASH})
    achievement = db.metadata.tables.get("achievements")
    now = dt.datetime(2026, 11, 1, 9, 0, 0)
    hashed = generate_password_hash(PASSWORD, method=QA_HASH)
    last_credit = (now - dt.timedelta(days=5)).date()  # the newest of the items below (k = 0)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            org_id = conn.execute(insert(Organization).values(
                name=ORG_NAME, partner_id=ORG_PARTNER_ID, created_at=now)).inserted_primary_key[0]
            people = [{"organization_id": org_id, "email": ADMIN_EMAIL, "display_name": "Bench Admin",
                       "password_hash": hashed, "roles": ADMIN_ROLES, "created_at": now, "link_flags": 1,
               "active_items": ACHIEVEMENTS_PER_USER, "last_credit_on": last_credit}]
            people += [{"organization_id": org_id, "email": f"user{i:06d}@bench.example",
                        "display_name": f"Bench User {i:06d}", "password_hash": hashed, "roles": "",
                        # Each gets a Learn link and its items below (Core inserts bypass
                        # webapp/user_summary.py, which keeps these two columns).
                        "created_at": now, "link_flags": 1, "active_items": ACHIEVEMENTS_PER_USER,
                        "last_credit_on": last_credit} for i in range(1, users)]
            conn.execute(insert(WorkUser), people)
            ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM work_users ORDER BY id")]
            conn.execute(insert(LearningIdentity), [
                {"provider": "learn", "identity_key": f"{600_000_000 + n}", "association_count": 1}
                for n in range(len(ids))])
            identity_ids = [row[0] for row in conn.exec_driver_sql(
                "SELECT id FROM learning_identities ORDER BY id")]
            links = [{"work_user_id": uid, "organization_id": org_id, "identity_id": iid,
                      "provider": "learn", "issuer": "http://localhost:5001/learn",
                      "subject": f"bench-sub-{n}", "email": f"learner{n:06d}@outlook.com",
                      "display_name": f"Learner {n:06d}", "mcid": f"{600_000_000 + n}",
                      "linked_at": now - dt.timedelta(days=40)}
                     for n, (uid, iid) in enumerate(zip(ids, identity_ids))]
            conn.execute(insert(LinkedAccount), links)
            if achievement is not None:
                link_ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM linked_accounts ORDER BY id")]
                batch = []
                for uid, lid in zip(ids, link_ids):
                    for k, (kind, code, title, level) in enumerate(ITEMS[:ACHIEVEMENTS_PER_USER]):
                        completed = (now - dt.timedelta(days=5 + k * 7)).date()
                        batch.append(achievement_row(achievement, {
                            "work_user_id": uid, "link_id": lid, "organization_id": org_id,
                            "provider": "learn", "item_id": f"tr-{lid}-{k}", "kind": kind, "code": code,
                            "title": title, "level": level, "completed_on": completed,
                            "credit_on": completed, "refreshed_at": now, "changed_at": now}))
                    if len(batch) >= 50_000:
                        conn.execute(insert(achievement), batch)
                        batch = []
                if batch:
                    conn.execute(insert(achievement), batch)
            # The Core inserts bypass webapp/skilling_summary.py too: its counts made here.
            from sqlalchemy import true

            from webapp.skilling_summary import recount_skilling
            recount_skilling(conn, true())
        db.engine.dispose()


def achievement_row(table, values: dict) -> dict:
    """Only the columns the achievements table has (it is being extended by the reports work)."""
    row = {k: v for k, v in values.items() if k in table.c}
    for column in table.columns:  # any other required column gets a plain value of its type
        if column.name not in row and not column.nullable and not column.primary_key \
                and column.default is None and column.server_default is None:
            python_type = getattr(column.type, "python_type", str)
            row[column.name] = {int: 0, str: "", bool: False, dt.datetime: values.get("refreshed_at"),
                                dt.date: values.get("completed_on")}.get(python_type)
    return row
