"""The installation operator and the trust boundaries between organizations.

The clock, the demo reset and the refresh of every organization act on the whole installation:
only the configured operator (OPERATORS, LEARNLINK_OPERATORS) does them, whoever the
organizations' Global admins are. The reset is one transaction, whoever presses it. No page,
flash, CSV or log view shows one organization the users or admins of another.
"""
from __future__ import annotations

import re

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.fixtures.browser import Browser
from tests.fixtures.demo_servers import move_mia_to_fabrikam
from tests.fixtures.flows import sign_in
from tests.fixtures.snapshots import webapp_state
from tests.fixtures.report_helpers import run_refresh_worker
from webapp import clock, simulated_clock, users
from webapp.demo import seed as demo_seed
from webapp.demo.seed import DEMO_PASSWORD, DEMO_WORK_USERS
from webapp.extensions import db
from webapp.linking import service as linking_service
from webapp.models import Achievement, AuditEvent, LinkedAccount, Organization, WorkUser

CONTOSO, FABRIKAM = "1234567", "7654321"


def as_user(app, email: str) -> Browser:
    browser = Browser(app.test_client())
    page = sign_in(browser, email)
    assert "/login" not in page.url, page.text[:300]
    return browser


def csrf_token(browser: Browser) -> str:
    return browser.open("/profile").form_with(action_contains="/logout").fields["csrf_token"]


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def make_global_admin(app, email: str, partner_id: str = CONTOSO) -> None:
    with app.app_context():
        org = db.session.scalar(select(Organization).where(Organization.partner_id == partner_id))
        users.create_work_user(org, email, "Second Global", DEMO_PASSWORD, ["global_admin"])


def press_reset(browser: Browser):
    confirm = browser.open("/demo/reset")
    assert confirm.status == 200, confirm.text[:300]
    return browser.submit(confirm, confirm.form_with(action_contains="/demo/reset"), {"confirm": "y"})


# --------------------------------------------------------------------------- 1. the reset, whoever presses it

@pytest.mark.parametrize("operator", ["frank.global@fabrikam.com", "grace.global@contoso.com"])
def test_reset_by_any_operator_reseeds_and_ends_their_session(app, operator):
    """Not only the first seeded admin: frank (another organization) or a second Contoso admin."""
    if operator.startswith("grace"):
        make_global_admin(app, operator)
    app.config["OPERATORS"] = frozenset({operator})
    browser = as_user(app, operator)
    done = press_reset(browser)
    assert done.status == 200 and done.url == "http://localhost/login", done.text[:500]
    assert "The demo was reset to its seeded state" in done.text
    assert count(app, WorkUser) == len(DEMO_WORK_USERS)
    assert browser.open("/profile").url.startswith("http://localhost/login")
    with app.app_context():
        reset = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "demo_reset")).one()
        assert reset.actor_email == operator and reset.actor_id is None
    # Everybody signs in again, the seeded admins included.
    assert "Gloria Global" in as_user(app, "gloria.global@contoso.com").open("/profile").text


def test_providers_that_do_not_answer_are_reported_after_the_webapp_reset(app):
    """The providers are called after the commit: their failure is a message, not a 500."""
    app.config.update(IDP_CONTROL_TOKEN="some-control-token", IDP_CONTROL_URL="http://127.0.0.1:9")
    with app.app_context():
        simulated_clock.set_clock_offset(timedelta(days=4))
    done = press_reset(as_user(app, "gloria.global@contoso.com"))
    assert done.status == 200 and done.url == "http://localhost/login"
    assert "The demo was reset to its seeded state" in done.text
    assert "The identity providers were not reset (ConnectionError)" in done.text
    assert "some-control-token" not in done.text
    with app.app_context():
        assert clock.clock_offset() == timedelta(0)


def test_a_failure_while_seeding_again_leaves_the_database_as_it_was(app, monkeypatch):
    make_global_admin(app, "grace.global@contoso.com")
    app.config["OPERATORS"] = frozenset({"frank.global@fabrikam.com"})
    with app.app_context():
        simulated_clock.set_clock_offset(timedelta(days=20))
    before, audit_before = webapp_state(app), count(app, AuditEvent)

    real_create = users.create_work_user

    def failing_create(organization, email, *args, **kwargs):
        if email == "mia@contoso.com":  # half-way through the demo users
            raise RuntimeError("disk full")
        return real_create(organization, email, *args, **kwargs)

    monkeypatch.setattr(demo_seed, "create_work_user", failing_create)
    frank = as_user(app, "frank.global@fabrikam.com")
    done = press_reset(frank)
    assert done.url == "http://localhost/demo" and "The demo could not be reset; nothing was changed" in done.text
    assert webapp_state(app) == before and count(app, AuditEvent) == audit_before + 1  # frank's sign-in
    assert "Frank Global" in frank.open("/profile").text  # nothing changed: still signed in
    with app.app_context():
        assert clock.clock_offset() == timedelta(days=20)

    monkeypatch.undo()
    assert "The demo was reset" in press_reset(frank).text
    assert count(app, WorkUser) == len(DEMO_WORK_USERS)


# --------------------------------------------------------------------------- 4. only the operator

OPERATOR_ACTIONS = [
    ("GET", "/admin/clock", {}),
    ("POST", "/admin/clock/set", {"date": "2030-01-01"}),
    ("POST", "/admin/clock/advance", {"days": "5"}),
    ("POST", "/admin/clock/reset", {}),
    ("GET", "/demo/reset", {}),
    ("POST", "/demo/reset", {"confirm": "y"}),
    ("POST", "/admin/refresh-all", {}),
    ("GET", "/admin/operator", {}),
]


@pytest.mark.parametrize("method,path,data", OPERATOR_ACTIONS)
def test_operator_actions_are_refused_to_a_global_admin_who_is_not_the_operator(app, method, path, data):
    with app.app_context():
        simulated_clock.set_clock_offset(timedelta(days=7))
    before = webapp_state(app)
    for email in ("frank.global@fabrikam.com", "aaron.account@contoso.com"):
        admin = as_user(app, email)
        token = csrf_token(admin)
        page = admin.open(path, method=method, data={**data, "csrf_token": token} if method == "POST" else None)
        assert page.status == 403, (email, path)
        assert 'href="/admin/clock"' not in admin.open("/profile").text
        assert 'href="/demo/reset"' not in admin.open("/demo").text
    # A Global admin is not the operator by role: with nobody configured, gloria is refused too.
    app.config["OPERATORS"] = frozenset()
    gloria = as_user(app, "gloria.global@contoso.com")
    page = gloria.open(path, method=method, data={**data, "csrf_token": csrf_token(gloria)}
                       if method == "POST" else None)
    assert page.status == 403
    assert webapp_state(app) == before


@pytest.mark.parametrize("method,path,data", OPERATOR_ACTIONS)
def test_operator_actions_are_allowed_to_the_operator(app, method, path, data):
    gloria = as_user(app, "gloria.global@contoso.com")
    token = csrf_token(gloria)
    page = gloria.open(path, method=method, data={**data, "csrf_token": token} if method == "POST" else None)
    assert page.status == 200, page.text[:300]
    assert "/login" not in page.url or path == "/demo/reset"


def test_demo_guide_says_when_no_operator_is_configured(app, client):
    assert 'data-field="no-operator"' not in client.get("/demo").get_data(as_text=True)
    app.config["OPERATORS"] = frozenset()
    assert "No installation operator is configured (LEARNLINK_OPERATORS)" in client.get("/demo").get_data(as_text=True)


def test_operator_is_configured_by_environment(monkeypatch):
    monkeypatch.setenv("LEARNLINK_OPERATORS", " Trainer@Contoso.com , qa.lead@fabrikam.com,")
    import importlib

    from webapp import config
    try:
        assert importlib.reload(config).Config.OPERATORS == {"trainer@contoso.com", "qa.lead@fabrikam.com"}
        monkeypatch.delenv("LEARNLINK_OPERATORS")
        assert importlib.reload(config).Config.OPERATORS == frozenset()  # nobody by default
    finally:
        monkeypatch.delenv("LEARNLINK_OPERATORS", raising=False)
        importlib.reload(config)


# --------------------------------------------------------------------------- 4 and 5. the data refresh

def _achievements_by_org(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(Organization.partner_id, func.count(Achievement.id))
            .join(Achievement, Achievement.organization_id == Organization.id)
            .group_by(Organization.partner_id)).all()
        return dict(rows)


def test_an_admins_refresh_touches_only_their_organization_and_names_only_its_users(app, idp):
    from webapp.demo.seed import seed_demo_links

    with app.app_context():
        assert seed_demo_links() == 3
        move_mia_to_fabrikam()  # mia@fabrikam.com holds the moved MCID
        fabrikam_links = db.session.scalar(select(func.count()).select_from(LinkedAccount).join(
            Organization, Organization.id == LinkedAccount.organization_id).where(
            Organization.partner_id == FABRIKAM, LinkedAccount.ended_at.is_(None)))
        assert fabrikam_links == 1
    gloria = as_user(app, "gloria.global@contoso.com")
    page = gloria.open("/reports/skills")
    gloria.submit(page, page.form_with(action_contains="/reports/refresh"))
    run_refresh_worker(app)
    done = gloria.open("/reports/skills")
    assert "Data refreshed from 2 linked accounts" in done.text, done.text[:2000]
    assert "fabrikam" not in done.text.lower()
    assert FABRIKAM not in _achievements_by_org(app) and _achievements_by_org(app)[CONTOSO] > 0

    # Fabrikam was not refreshed: its reports say so, and its refresh names only its users.
    frank = as_user(app, "frank.global@fabrikam.com")
    page = frank.open("/reports/skills")
    assert "has not been refreshed" in page.text
    frank.submit(page, page.form_with(action_contains="/reports/refresh"))
    run_refresh_worker(app)
    done = frank.open("/reports/skills")
    assert "Data refreshed from 1 linked account:" in done.text
    assert "contoso" not in done.text.lower()
    fabrikam_achievements = _achievements_by_org(app)[FABRIKAM]
    assert fabrikam_achievements > 0

    # Mia removes her Fabrikam link: her achievements leave at Fabrikam's next refresh, not at
    # Contoso's (which must neither touch nor mention them).
    with app.app_context():
        mia = db.session.scalar(select(WorkUser).where(WorkUser.email == "mia@fabrikam.com"))
        linking_service.remove_link(mia, "learn")
    page = gloria.open("/reports/skills")
    gloria.submit(page, page.form_with(action_contains="/reports/refresh"))
    run_refresh_worker(app)
    done = gloria.open("/reports/skills")
    assert "fabrikam" not in done.text.lower() and "no changes" in done.text
    assert _achievements_by_org(app)[FABRIKAM] == fabrikam_achievements


def test_the_operators_refresh_covers_every_organization_and_names_nobody(app, idp):
    from webapp.demo.seed import seed_demo_links

    with app.app_context():
        seed_demo_links()
        move_mia_to_fabrikam()
    gloria = as_user(app, "gloria.global@contoso.com")
    page = gloria.open("/admin/clock")
    done = gloria.submit(page, page.form_with(action_contains="/admin/refresh-all"))
    assert done.url.endswith("/admin/clock")
    assert "Data refresh queued for 2 organizations; 0 already running." in done.text
    run_refresh_worker(app)
    assert "@" not in re.sub(r"<header.*?</header>", "", done.text, flags=re.S).split("<main", 1)[-1]
    assert set(_achievements_by_org(app)) == {CONTOSO, FABRIKAM}


# --------------------------------------------------------------------------- 5. the audit log

def test_another_organizations_audit_log_shows_the_operator_not_their_email(app):
    gloria = as_user(app, "gloria.global@contoso.com")
    page = gloria.open("/admin/clock")
    gloria.submit(page, page.form_with(action_contains="/admin/clock/advance"), {"days": "3"})
    frank = as_user(app, "frank.global@fabrikam.com")
    log = frank.open("/audit/")
    assert "clock_changed" in log.text and "the installation operator" in log.text
    csv_text = frank.open("/audit/export.csv").text
    assert "clock_changed" in csv_text and "the installation operator" in csv_text
    for shown in (log.text, csv_text):
        assert "gloria" not in shown and "contoso" not in shown.lower()
    # The operator's own organization sees the same words: the event is the installation's.
    assert "the installation operator" in gloria.open("/audit/").text
