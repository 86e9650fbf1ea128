"""The providers' demo reset, and the demo data that shows each rule (the move, the cool-off, an
unlinked happy path, pending credit)."""
from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import select

from common.demo_accounts import DEMO_ACCOUNTS
from tests.fixtures.browser import WEBAPP_ORIGIN, Browser
from tests.fixtures.demo_servers import CONTROL_TOKEN
from tests.fixtures.clock import long_date
from tests.fixtures.servers import FAST_HASH, webapp_clients
from tests.fixtures.databases import provider_database_url
from tests.fixtures.snapshots import provider_state
from tests.fixtures.flows import link_account, remove_link, sign_in
from webapp import clock
from webapp.demo.seed import demo_subject, seed_demo
from webapp.extensions import db
from webapp.models import LEARN, LinkedAccount, WorkUser
from webapp.profile import service as profile_service


# --------------------------------------------------------------------------- the providers' side

def test_provider_reset_command_and_control_api(tmp_path):
    import idp_mock
    from idp_mock.demo import seed_demo
    from idp_mock.services import add_transcript_item, create_account, find_account

    app = idp_mock.create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": provider_database_url(tmp_path / "idp.sqlite"),
        "CREATE_TABLES_WITHOUT_MIGRATIONS": True,
        "WEBAPP_URL": WEBAPP_ORIGIN, "IDP_CLIENTS": webapp_clients(), "IDP_PASSWORD_HASH": FAST_HASH,
        "IDP_QA_MODE": True,
    })
    with app.app_context():
        seed_demo()
    fresh = provider_state(app)
    with app.app_context():
        create_account("learn", "extra@outlook.com", "long-password", "Extra", mcid="111222333")
        add_transcript_item(find_account("learn", "priya.pending@outlook.com").profile,
                            "certification", "Azure Administrator", code="AZ-104")
    assert provider_state(app) != fresh

    runner = app.test_cli_runner()
    result = runner.invoke(args=["reset-demo", "--yes"])
    assert result.exit_code == 0, result.output
    assert f"{len(DEMO_ACCOUNTS)} demo account(s) re-created" in result.output
    assert provider_state(app) == fresh

    client = app.test_client()
    assert client.post("/qa/reset").status_code == 404  # no token configured: no control API
    app.config["IDP_CONTROL_TOKEN"] = CONTROL_TOKEN
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": CONTROL_TOKEN}):
        response = client.post("/qa/reset", headers=headers)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/qa/reset", headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}).status_code == 405
    with app.app_context():
        create_account("partner-university", "extra@outlook.com", "long-password", "Extra")
    response = client.post("/qa/reset", headers={"Authorization": f"Bearer {CONTROL_TOKEN}"})
    assert response.status_code == 200
    assert response.get_json() == {"status": "reset", "demo_accounts": len(DEMO_ACCOUNTS)}
    assert provider_state(app) == fresh


# -------- Demo data that shows each rule: the move, the cool-off, an unlinked happy path, pending credit. --------
# Demo data that shows each rule: the move, the cool-off, an unlinked happy path, pending credit.

def links_by_user(app) -> dict[str, list[LinkedAccount]]:
    with app.app_context():
        result: dict[str, list[LinkedAccount]] = {}
        for link in db.session.scalars(select(LinkedAccount).order_by(LinkedAccount.id)):
            result.setdefault(link.work_user.email, []).append(link)
            db.session.expunge(link)
        return result


def test_demo_links_show_each_rule_and_seeding_is_idempotent(app, idp):
    with app.app_context():
        assert seed_demo()["links"] == 3
        assert seed_demo() == {"organizations": 0, "work_users": 0, "links": 0}
        today = clock.today()
        mia_old = db.session.scalar(select(WorkUser).where(WorkUser.email == "mia@contoso.com"))
        carl = db.session.scalar(select(WorkUser).where(WorkUser.email == "carl@contoso.com"))
        old_page = profile_service.profile_section(mia_old, LEARN)
        carl_page = profile_service.profile_section(carl, LEARN)
        assert old_page.moved_away is None and old_page.link.mcid == "555000111"  # the move is live
        assert (carl_page.next_date, carl_page.next_reason) == (today + timedelta(days=20), "cool_off")
    links = links_by_user(app)
    [old] = links["mia@contoso.com"]
    assert "mia@fabrikam.com" not in links
    assert (today - old.linked_at.date()).days == 40 and old.ended_at is None and old.mcid == "555000111"
    assert (today - links["carl@contoso.com"][0].linked_at.date()).days == 10
    assert links["priya@contoso.com"][0].ended_at is None
    assert "alex@contoso.com" not in links  # the happy path is left to do live
    # The seeded links name the provider's own accounts: same issuer and subject.
    from common.demo_accounts import demo_subject as provider_demo_subject
    from idp_mock.models import Account
    from idp_mock.models import db as idp_db
    with idp.app.app_context():
        for email in ("mia.mover@outlook.com", "carl.cooloff@outlook.com", "priya.pending@outlook.com"):
            subject = idp_db.session.scalar(idp_db.select(Account.subject).filter_by(email=email))
            assert subject == provider_demo_subject("learn", email) == demo_subject("learn", email)
    assert old.issuer == f"{idp.url}/learn" and old.subject == demo_subject("learn", "mia.mover@outlook.com")


def test_demo_pages_tell_the_stories(app, idp):
    with app.app_context():
        seed_demo()
        today = clock.today()
    mia = Browser(app.test_client())
    page = sign_in(mia, "mia@contoso.com")
    assert 'data-notice="moved"' not in page.text and "555000111" in page.text
    carl = Browser(app.test_client())
    page = sign_in(carl, "carl@contoso.com")
    assert f"Next available association date: {long_date(today + timedelta(days=20))}" in html.unescape(page.text)
    # Carl removes access and tries again: the cool-off refuses it, with the date.
    remove_link(carl, "learn")
    page = link_account(carl, "learn", "carl.cooloff@outlook.com")
    assert ("However, we require a period of 30 days between associations. Your next available date "
            f"for a subsequent association is {long_date(today + timedelta(days=20))}.") in html.unescape(page.text)
