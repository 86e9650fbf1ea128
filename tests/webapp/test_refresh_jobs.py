"""The data refresh at scale: jobs run by a worker, pages of subjects per transcript call, one
refresh per organization, a failing provider that changes nothing of its own, the daily schedule
(`flask refresh-due`) and a learner's refresh of their own achievements. Real HTTP to the live
providers; the database is SQLite or PostgreSQL (TEST_DATABASE_URL)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update

from tests.fixtures.browser import Browser
from tests.fixtures.flows import link_account, sign_in
from tests.fixtures.report_helpers import move_clock_to, org, provider_account, run_refresh_worker, user
from webapp.extensions import db
from webapp.models import Achievement, RefreshJob, RefreshStagedItem
from webapp.reports import jobs, merge, transcripts


def _codes(app, email: str) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(Achievement.code).where(
            Achievement.work_user_id == user(email).id)))


def test_transcripts_are_read_a_page_of_subjects_per_call(app, idp, monkeypatch):
    for email in ("alex@contoso.com", "pat@contoso.com", "carl@contoso.com"):
        account = provider_account(idp, "learn", [("certification", "AZ-104", "intermediate", "2026-09-15")])
        link_account(_signed_in(app, email), "learn", account)
    calls = []
    read_page = transcripts.TranscriptReader.read_page
    monkeypatch.setattr(transcripts.TranscriptReader, "read_page",
                        lambda self, links: calls.append(len(links)) or read_page(self, links))
    app.config["REFRESH_PAGE_SIZE"] = 2
    monkeypatch.setattr(merge, "MERGE_LINKS", 1)  # the merge's ranges of link ids, one link each
    with app.app_context():
        jobs.request_refresh(org().id, "admin")
    run_refresh_worker(app)
    assert calls == [2, 1]  # three links, pages of two users: two calls, not three
    with app.app_context():
        job = jobs.latest_job(org().id)
        assert (job.status, job.users_total, job.users_done, job.added, job.errors) == ("done", 3, 3, 3, 0)
        assert db.session.scalar(select(RefreshStagedItem.id)) is None  # staging emptied


def _signed_in(app, email: str) -> Browser:
    browser = Browser(app.test_client())
    sign_in(browser, email)
    return browser


def test_a_failing_provider_changes_nothing_of_its_own_and_the_other_is_refreshed(app, idp):
    learn_account = provider_account(idp, "learn", [("certification", "AZ-104", "intermediate", "2026-09-15")])
    pu_account = provider_account(idp, "partner-university", [("assessment", "ASSESS-AI", None, "2026-09-01")])
    link_account(_signed_in(app, "alex@contoso.com"), "learn", learn_account)
    link_account(_signed_in(app, "pat@contoso.com"), "partner-university", pu_account)
    with app.app_context():
        jobs.request_refresh(org().id, "admin")
    run_refresh_worker(app)
    assert _codes(app, "alex@contoso.com") == {"AZ-104"} and _codes(app, "pat@contoso.com") == {"ASSESS-AI"}

    # Both learners complete more; then Partner University stops answering Partner Center.
    from idp_mock.models import Account, db as idp_db
    from idp_mock.services import add_transcript_item
    with idp.app.app_context():
        for issuer, email, code in (("learn", learn_account, "AZ-305"), ("partner-university", pu_account, "ASSESS-SEC")):
            account = idp_db.session.scalar(idp_db.select(Account).filter_by(issuer=issuer, email=email))
            add_transcript_item(account.profile, "assessment", f"Title {code}", code=code,
                                completed_at=date(2026, 10, 1))
    app.config["PARTNER_UNIVERSITY_CLIENT_SECRET"] = "wrong-secret"
    from webapp.linking.oidc import init_oauth
    init_oauth(app)
    with app.app_context():
        last = jobs.last_refresh(org().id)
        jobs.request_refresh(org().id, "admin")
    run_refresh_worker(app)
    assert _codes(app, "alex@contoso.com") == {"AZ-104", "AZ-305"}  # Learn refreshed
    assert _codes(app, "pat@contoso.com") == {"ASSESS-AI"}  # Partner University untouched
    with app.app_context():
        job = jobs.latest_job(org().id)
        assert (job.status, job.errors, job.failed_providers, job.added) == ("done", 1, "partner-university", 1)
        assert "Partner University refused" in job.message and "wrong-secret" not in job.message
        assert jobs.last_refresh(org().id) == last  # not every provider answered
    page = _signed_in(app, "gloria.global@contoso.com").open("/reports/skills")
    assert "1 error." in page.text and "Partner University refused" in page.text


def test_progress_is_in_the_database_and_survives_a_reload(app, idp):
    for email in ("alex@contoso.com", "pat@contoso.com"):
        account = provider_account(idp, "learn", [("certification", "AZ-104", "intermediate", "2026-09-15")])
        link_account(_signed_in(app, email), "learn", account)
    admin = _signed_in(app, "gloria.global@contoso.com")
    page = admin.open("/reports/learn-analytics")
    queued = admin.submit(page, page.form_with(action_contains="/reports/refresh"))
    assert 'data-refresh-status="queued"' in queued.text
    # A worker has claimed it and committed its first page (what run_job does per page).
    with app.app_context():
        job = jobs.claim_next_job()
        job.users_total, job.users_done = 2, 1
        db.session.commit()
        job_id = job.id
    for _ in range(2):  # the same on every load, from any web worker
        running = admin.open("/reports/skills")
        assert "Data refresh running: 50%, 1 of 2 users done, 0 errors." in running.text
        assert '<progress max="100" value="50">' in running.text
    # Another worker finds nothing to claim while the job's heartbeat is fresh ...
    with app.app_context():
        assert jobs.claim_next_job() is None
        # ... and takes it over once its worker has been silent past the lease.
        db.session.execute(update(RefreshJob).values(heartbeat_at=datetime(2000, 1, 1)))
        db.session.commit()
        taken = jobs.claim_next_job()
        assert taken.id == job_id and taken.users_done == 0
        jobs.run_job(taken)
    assert "Last data refresh: 2 of 2 users done, 0 errors." in admin.open("/reports/skills").text


def test_one_refresh_per_organization_at_a_time(app):
    with app.app_context():
        first, created = jobs.request_refresh(org().id, "admin")
        again, created_again = jobs.request_refresh(org().id, "schedule")
        assert created and not created_again and again.id == first.id
        other, created_other = jobs.request_refresh(org("7654321").id, "admin")
        assert created_other and other.id != first.id
        # The database refuses a second active one even past request_refresh's check.
        db.session.add(RefreshJob(organization_id=org().id, trigger="admin", status="running",
                                  requested_at=datetime(2026, 1, 1)))
        try:
            db.session.commit()
            raise AssertionError("a second active refresh was stored")
        except Exception as exc:  # IntegrityError
            db.session.rollback()
            assert "IntegrityError" in type(exc).__name__


def test_refresh_due_runs_each_organization_at_its_daily_time(app, idp):
    account = provider_account(idp, "learn", [("certification", "AZ-104", "intermediate", "2026-09-15")])
    link_account(_signed_in(app, "alex@contoso.com"), "learn", account)
    runner = app.test_cli_runner()
    out = runner.invoke(args=["set-refresh-time", "--partner-id", "7654321", "--at", "23:30"])
    assert out.exit_code == 0 and "23:30" in out.output
    assert runner.invoke(args=["set-refresh-time", "--partner-id", "7654321", "--at", "25:00"]).exit_code == 2
    with app.app_context():
        move_clock_to(date(2027, 3, 1), time(1, 0))
    out = runner.invoke(args=["refresh-due"])  # never refreshed: both are due
    assert out.exit_code == 0 and "2 organization refresh(es) queued." in out.output, out.output
    assert _codes(app, "alex@contoso.com") == {"AZ-104"}
    assert "0 organization refresh(es) queued." in runner.invoke(args=["refresh-due"]).output
    with app.app_context():
        move_clock_to(date(2027, 3, 1), time(2, 30))  # Contoso's default 02:00 has passed
    assert "1 organization refresh(es) queued." in runner.invoke(args=["refresh-due"]).output
    with app.app_context():
        assert jobs.latest_job(org().id).trigger == "schedule"
        move_clock_to(date(2027, 3, 1), time(23, 45))  # Fabrikam's 23:30
        fabrikam_before = jobs.latest_job(org("7654321").id).id
    assert "1 organization refresh(es) queued." in runner.invoke(args=["refresh-due"]).output
    with app.app_context():
        assert jobs.latest_job(org("7654321").id).id != fabrikam_before


def test_a_learner_refreshes_their_own_achievements_at_most_once_per_interval(app, idp):
    account = provider_account(idp, "learn", [("certification", "AZ-104", "intermediate", "2026-09-15")])
    learner = _signed_in(app, "alex@contoso.com")
    link_account(learner, "learn", account)
    page = learner.open("/profile")
    assert "No achievements yet" in page.text
    form = page.form_with(action_contains="/profile/achievements/refresh")
    forged = learner.open("/profile/achievements/refresh", method="POST", data={})
    assert forged.status == 400
    assert _codes(app, "alex@contoso.com") == set()
    done = learner.submit(page, form)
    assert "Your achievements were refreshed: 1 added, 0 updated, 0 removed." in done.text
    assert 'data-item="AZ-104"' in done.text
    # Only their own links: nobody else's achievements were read or written.
    with app.app_context():
        assert set(db.session.scalars(select(Achievement.work_user_id))) == {user("alex@contoso.com").id}
        assert jobs.latest_job(org().id) is None  # not the organization's refresh

    from idp_mock.models import Account, db as idp_db
    from idp_mock.services import add_transcript_item
    with idp.app.app_context():
        profile = idp_db.session.scalar(idp_db.select(Account).filter_by(issuer="learn", email=account)).profile
        add_transcript_item(profile, "certification", "Title AZ-305", code="AZ-305", level="advanced",
                            completed_at=date(2026, 10, 1))
    again = learner.submit(done, done.form_with(action_contains="/profile/achievements/refresh"))
    assert "You can refresh them again in 5 minutes." in again.text
    assert _codes(app, "alex@contoso.com") == {"AZ-104"}
    with app.app_context():
        for job in db.session.scalars(select(RefreshJob)):
            job.requested_at -= timedelta(minutes=6)
        db.session.commit()
    later = learner.submit(again, again.form_with(action_contains="/profile/achievements/refresh"))
    assert "1 added" in later.text and _codes(app, "alex@contoso.com") == {"AZ-104", "AZ-305"}
