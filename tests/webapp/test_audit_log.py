"""The audit log: every sign-in, link, removal, move, user change and clock change is appended,
in the same transaction as the change; Global admins read and export it; nobody edits it."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import exc as sa_exc, select, text

from tests.fixtures.browser import Browser
from tests.fixtures.flows import link_account, remove_link, sign_in
from webapp import simulated_clock
from webapp.admin import service as admin_service
from webapp.audit import service as audit_service
from webapp.extensions import db
from webapp.linking import rules
from webapp.linking import service as linking_service
from webapp.models import LEARN, AuditEvent, AuditLogIsAppendOnly, LinkedAccount, Organization, WorkUser


def events(app, **where) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def personal(mcid="555000777", email="mover@outlook.com") -> rules.PersonalAccount:
    return rules.PersonalAccount(provider=LEARN, issuer="http://idp.test/learn", subject=f"sub-{mcid}",
                                    email=email, display_name="Mover", mcid=mcid)


def user(email) -> WorkUser:
    return db.session.scalar(select(WorkUser).where(WorkUser.email == email))


def test_sign_in_link_removal_and_sign_out_are_recorded_with_address(app, browser):
    sign_in(browser, "alex@contoso.com", "wrong-password")
    sign_in(browser, "alex@contoso.com")
    link_account(browser, "learn", "alex.learner@outlook.com")
    remove_link(browser, "learn")
    page = browser.open("/profile")
    browser.submit(page, page.form_with(action_contains="/logout"))
    log = events(app, actor_email="alex@contoso.com")
    assert [e.action for e in log] == ["sign_in_failed", "sign_in", "link_added", "link_removed",
                                       "sign_out"]
    assert all(e.address == "127.0.0.1" for e in log)
    contoso = log[1].organization_id
    assert all(e.organization_id == contoso for e in log)
    assert log[2].target == "learn 987654321" and log[2].detail["email"] == "alex.learner@outlook.com"
    assert log[1].at <= log[2].at <= log[3].at


def test_unknown_email_and_blocked_sign_ins_are_recorded(app):
    client = app.test_client()
    for _ in range(6):
        sign_in(Browser(client), "nobody@contoso.com", "whatever-pass")
    actions = [e.action for e in events(app, actor_email="nobody@contoso.com")]
    assert actions == ["sign_in_failed"] * 5 + ["sign_in_blocked"]


def test_automatic_move_is_recorded_in_the_old_organizations_log(app):
    with app.test_request_context():
        linking_service.associate_account(user("mia@contoso.com"), personal())
        # Past the cool-off, the same MCID is associated by Mia at her new employer.
        simulated_clock.set_clock_offset(timedelta(days=31))
        linking_service.associate_account(user("mia@fabrikam.com"), personal())
        contoso = db.session.scalar(select(Organization).where(Organization.partner_id == "1234567"))
        fabrikam = db.session.scalar(select(Organization).where(Organization.partner_id == "7654321"))
        contoso_id, fabrikam_id = contoso.id, fabrikam.id
    [moved] = events(app, action="link_moved")
    assert moved.organization_id == contoso_id
    assert moved.target == "learn 555000777"
    # The old organization learns that it moved, not who it moved to.
    assert moved.detail == {"from_user": "mia@contoso.com", "to": "another organization"}
    assert moved.actor_email == ""
    added = events(app, action="link_added")
    assert [e.organization_id for e in added] == [contoso_id, fabrikam_id]
    [clock] = events(app, action="clock_changed")
    assert clock.organization_id is None and clock.detail == {"from_seconds": 0, "to_seconds": 31 * 86400}


def test_user_creation_is_recorded_with_the_admin_who_did_it(app):
    with app.test_request_context():
        # The actor is an argument: the services never read the signed-in user themselves.
        admin_service.add_work_user(user("gloria.global@contoso.com"), "new.hire@contoso.com", "New Hire",
                               "Passw0rd!long", ["account_admin"])
    [created] = events(app, action="user_created", target="new.hire@contoso.com")
    assert created.actor_email == "gloria.global@contoso.com"
    assert created.detail == {"roles": ["account_admin"]}


def test_the_event_is_written_in_the_same_transaction_as_the_change(app, monkeypatch):
    """If the audit line cannot be written, the link is not written either (and vice versa)."""
    def broken_audit(*args, **kwargs):
        db.session.add(AuditEvent(action=None))  # violates NOT NULL at flush time

    monkeypatch.setattr(linking_service, "record_audit", broken_audit)
    with app.test_request_context():
        with pytest.raises((sa_exc.IntegrityError, rules.LinkRefused)):
            linking_service.associate_account(user("alex@contoso.com"), personal())
        db.session.rollback()
        assert db.session.scalar(select(LinkedAccount.id)) is None
    monkeypatch.undo()
    with app.test_request_context():  # a refused link writes no audit line
        linking_service.associate_account(user("alex@contoso.com"), personal())
        with pytest.raises(rules.LinkRefused):
            linking_service.associate_account(user("carl@contoso.com"), personal())
    assert [e.action for e in events(app) if e.action.startswith("link")] == ["link_added"]


def test_audit_log_cannot_be_changed_through_the_orm(app):
    with app.test_request_context():
        audit_service.record_audit("sign_in", organization_id=None, actor_email="x@contoso.com")
        db.session.commit()
        event = db.session.scalar(select(AuditEvent))
        event.action = "nothing happened"
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.scalar(select(AuditEvent)))
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.commit()
        db.session.rollback()


def test_audit_log_cannot_be_changed_in_the_database(app):
    """Triggers refuse UPDATE and DELETE even from plain SQL."""
    with app.test_request_context():
        audit_service.record_audit("sign_in", organization_id=None, actor_email="x@contoso.com")
        db.session.commit()
        for statement in ("UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"):
            with pytest.raises(sa_exc.DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert db.session.scalar(select(AuditEvent.action).where(
            AuditEvent.actor_email == "x@contoso.com")) == "sign_in"


def test_migrated_database_refuses_audit_changes_too(migrated_webapp):
    """The migration installs the same triggers as create_all."""
    _name, app, database = migrated_webapp
    database.session.execute(text(
        "INSERT INTO audit_events (at, clock_at, actor_email, action, target, address, detail) "
        "VALUES (CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '', 'sign_in', '', '', '{}')"))
    database.session.commit()
    for statement in ("UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"):
        with pytest.raises(sa_exc.DBAPIError, match="append-only"):
            database.session.execute(text(statement))
        database.session.rollback()


def test_no_route_can_edit_or_delete_the_audit_log(app):
    audit_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/audit")]
    assert audit_rules
    for rule in audit_rules:
        assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule


def _as(app, email) -> Browser:
    browser = Browser(app.test_client())
    sign_in(browser, email)
    return browser


def test_global_admin_views_and_exports_their_organizations_log(app):
    alex = _as(app, "alex@contoso.com")
    link_account(alex, "learn", "alex.learner@outlook.com")
    _as(app, "frank.global@fabrikam.com")
    with app.test_request_context():
        audit_service.record_audit("link_added", organization_id=user("alex@contoso.com").organization_id,
                              actor_email="", target='=HYPERLINK("http://evil.example")')
        audit_service.record_audit("link_added", organization_id=user("alex@contoso.com").organization_id,
                              actor_email="", target="<script>alert(1)</script>")
        db.session.commit()

    gloria = _as(app, "gloria.global@contoso.com")
    page = gloria.open("/audit/")
    assert page.status == 200 and "Audit log" in page.text
    assert "alex@contoso.com" in page.text and "learn 987654321" in page.text
    assert "frank.global@fabrikam.com" not in page.text  # another organization's events
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    export = gloria.client.get("/audit/export.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert rows[0] == list(audit_service.AUDIT_CSV_COLUMNS)
    actions = [r[2] for r in rows[1:]]
    assert {"sign_in", "link_added"} <= set(actions)
    assert all("fabrikam" not in ",".join(r) for r in rows)
    # A cell that starts a formula is neutralised for spreadsheets.
    assert "'=HYPERLINK(\"http://evil.example\")" in [r[4] for r in rows]


@pytest.mark.parametrize("email", ["alex@contoso.com", "aaron.account@contoso.com",
                                   "paula.partner@contoso.com"])
def test_only_global_admins_see_the_audit_log(app, email):
    browser = _as(app, email)
    assert browser.client.get("/audit/").status_code == 403
    assert browser.client.get("/audit/export.csv").status_code == 403
    assert Browser(app.test_client()).client.get("/audit/").status_code == 302  # signed out


def test_admin_user_changes_and_clock_moves_are_recorded(app):
    """The administration and clock functions of the services are hooked."""
    with app.test_request_context():
        admin = user("aaron.account@contoso.com")
        created = admin_service.add_work_user(admin, "temp.worker@contoso.com", "Temp", "Passw0rd!long")
        admin_service.delete_work_user(admin, created)
        simulated_clock.advance_clock(3)
        simulated_clock.reset_clock()
    created_event = events(app, action="user_created", target="temp.worker@contoso.com")
    deleted_event = events(app, action="user_deleted", target="temp.worker@contoso.com")
    assert [e.actor_email for e in created_event + deleted_event] == ["aaron.account@contoso.com"] * 2
    clock = events(app, action="clock_changed")
    assert [round(c.detail["to_seconds"] / 86400) for c in clock] == [3, 0]
    assert deleted_event[0].organization_id == created_event[0].organization_id
