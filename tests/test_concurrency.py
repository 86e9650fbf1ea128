"""The limits hold when several flows complete at the same moment.

Each thread has its own app context, hence its own database session and connection, and
calls linking_service.associate_account on the test database (SQLite file, or TEST_DATABASE_URL).
A barrier releases them together. Bounded: a few dozen threads, no sleeps.
"""
from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import select

from webapp import clock
from webapp.extensions import db
from webapp.linking import rules
from webapp.linking import service as linking_service
from webapp.models import LEARN, LearningIdentity, LinkedAccount, WorkUser

ISSUER = "http://idp.test/learn"
THREADS_PER_SIDE = 12


def account(email: str, mcid: str) -> rules.PersonalAccount:
    return rules.PersonalAccount(provider=LEARN, issuer=ISSUER, subject=f"sub:{email}",
                                    email=email, display_name=email, mcid=mcid)


def race(app, jobs: list[tuple[str, rules.PersonalAccount]]) -> list[str]:
    """Run every (work email, account) association at once; return each outcome code."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = [""] * len(jobs)

    def run(index: int, work_email: str, personal: rules.PersonalAccount) -> None:
        with app.app_context():
            try:
                user = db.session.scalar(select(WorkUser).where(WorkUser.email == work_email))
                clock.now()  # read the clock before the start line, like a request would
                # Give the connection back: the pool is smaller than the crowd at the barrier.
                db.session.commit()
                barrier.wait(timeout=30)
                linking_service.associate_account(user, personal)
                outcomes[index] = "linked"
            except rules.LinkRefused as refused:
                outcomes[index] = refused.code
            except Exception as exc:  # noqa: BLE001 - any other error is a failure of the test
                outcomes[index] = f"error:{type(exc).__name__}:{exc}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, who, acc)) for i, (who, acc) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return outcomes


def state(app, mcids: list[str]) -> tuple[list[LinkedAccount], dict[str, int]]:
    with app.app_context():
        rows = list(db.session.scalars(select(LinkedAccount)))
        counts = {i.identity_key: i.association_count for i in db.session.scalars(
            select(LearningIdentity).where(LearningIdentity.identity_key.in_(mcids)))}
        for row in rows:
            db.session.expunge(row)
        return rows, counts


def assert_clean(outcomes: list[str]) -> None:
    errors = [o for o in outcomes if o.startswith("error:")]
    assert not errors, errors


def test_same_mcid_from_two_organizations_at_once_links_exactly_once(app):
    mia = account("mia.mover@outlook.com", "555000111")
    jobs = [("mia@contoso.com", mia)] * THREADS_PER_SIDE + [("mia@fabrikam.com", mia)] * THREADS_PER_SIDE
    outcomes = race(app, jobs)
    assert_clean(outcomes)
    assert outcomes.count("linked") == 1, outcomes
    assert set(outcomes) - {"linked"} <= {"concurrent", "cool_off", "already_linked", "busy"}
    rows, counts = state(app, ["555000111"])
    assert len(rows) == 1 and rows[0].ended_at is None
    assert counts == {"555000111": 1}


def test_same_user_twice_at_once_links_exactly_once(app):
    """The same work user completing two flows at once: for one account, and for two MCIDs."""
    alex = account("alex.learner@outlook.com", "987654321")
    outcomes = race(app, [("alex@contoso.com", alex)] * THREADS_PER_SIDE)
    assert_clean(outcomes)
    assert outcomes.count("linked") == 1, outcomes
    rows, counts = state(app, ["987654321"])
    assert len(rows) == 1 and counts == {"987654321": 1}

    # Two different MCIDs for the same (other) work user: one active link per user.
    first, second = account("one@outlook.com", "100000001"), account("two@outlook.com", "100000002")
    jobs = [("carl@contoso.com", first if i % 2 else second) for i in range(2 * THREADS_PER_SIDE)]
    outcomes = race(app, jobs)
    assert_clean(outcomes)
    assert outcomes.count("linked") == 1, outcomes
    rows, counts = state(app, ["100000001", "100000002"])
    carl_rows = [r for r in rows if r.mcid in ("100000001", "100000002")]
    assert len(carl_rows) == 1 and carl_rows[0].ended_at is None
    # Only the identity whose link is recorded was counted; the other's bump was rolled back.
    assert counts.get(carl_rows[0].mcid) == 1
    assert sum(counts.values()) == 1


def test_a_locked_database_gives_a_clean_refusal_then_links(app, tmp_path):
    """A write lock held elsewhere longer than the wait: refused with a message, nothing written."""
    from tests.conftest import webapp_config
    from webapp import create_app
    from webapp.demo import seed_demo

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    path = tmp_path / "locked.sqlite"
    config = webapp_config("http://127.0.0.1:9", f"sqlite:///{path}")
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 0.05}}
    locked_app = create_app(config)
    with locked_app.app_context():
        seed_demo(with_links=False)
        alex = db.session.scalar(select(WorkUser).where(WorkUser.email == "alex@contoso.com"))
        db.session.commit()
        holder = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another worker in the middle of a write
        try:
            try:
                linking_service.associate_account(alex, account("alex.learner@outlook.com", "987654321"))
            except rules.LinkRefused as refused:
                assert refused.code == "busy"
                assert refused.message.startswith("Partner Center is busy and could not record the association.")
            else:
                raise AssertionError("linked through a held write lock")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert db.session.scalar(select(LinkedAccount.id)) is None
        assert db.session.scalar(select(LearningIdentity.association_count)) in (None, 0)
        link = linking_service.associate_account(alex, account("alex.learner@outlook.com", "987654321"))
        assert link.ended_at is None
        db.session.remove()
        db.engine.dispose()
