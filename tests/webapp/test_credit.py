"""The ten-day credit rule and the data refresh from the providers' transcript API."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from tests.fixtures.flows import link_account, sign_in
from tests.fixtures.demo_servers import move_mia_to_fabrikam
from tests.fixtures.report_helpers import apply, delete_user, entry, link, move_clock_to, provider_account, user
from webapp import clock
from webapp.reports import credit
from webapp.reports import refresh
from webapp.extensions import db
from webapp.linking import service as linking_service
from webapp.models import LEARN, PARTNER_UNIVERSITY, Achievement


def achievements_snapshot():
    return [(a.link_id, a.item_id, a.kind, a.code, a.title, a.level, a.completed_on, a.credit_on,
             a.changed_at) for a in db.session.scalars(select(Achievement).order_by(Achievement.id))]


# ---------------------------------------------------------------- the rule as a function

def test_credit_date_is_ten_days_after_completion_when_completed_after_linking():
    assert credit.credit_date(date(2026, 3, 5), datetime(2026, 3, 1, 9, 30)) == date(2026, 3, 15)


def test_credit_date_is_ten_days_after_link_start_when_completed_before_linking():
    assert credit.credit_date(date(2025, 12, 24), datetime(2026, 3, 1, 23, 59)) == date(2026, 3, 11)


def test_credit_status_boundaries():
    credit_on = date(2026, 3, 15)
    assert credit.credit_status(credit_on, date(2026, 3, 14)) == "pending"
    assert credit.credit_status(credit_on, date(2026, 3, 15)) == "credited"
    assert credit.credit_status(credit_on, date(2026, 3, 16)) == "credited"


# ---------------------------------------------------------------- the rule through the services

def test_day_nine_pending_day_ten_credited(app_ctx):
    move_clock_to(date(2026, 3, 1))
    alex = user("alex@contoso.com")
    learn = link(alex)
    apply({learn.id: [entry("tr-1", date(2026, 3, 5))]})

    move_clock_to(date(2026, 3, 14))  # day 9 after completion
    [view] = credit.user_achievements(alex)
    assert (view.status, view.credit_on) == ("pending", date(2026, 3, 15))

    move_clock_to(date(2026, 3, 15))  # day 10
    [view] = credit.user_achievements(alex)
    assert view.status == "credited"


def test_completion_before_linkage_counts_from_the_link_start(app_ctx):
    move_clock_to(date(2026, 3, 1))
    alex = user("alex@contoso.com")
    learn = link(alex)
    apply({learn.id: [entry("tr-old", date(2025, 6, 30))]})

    move_clock_to(date(2026, 3, 10))  # day 9 after the link
    [view] = credit.user_achievements(alex)
    assert (view.status, view.credit_on) == ("pending", date(2026, 3, 11))
    move_clock_to(date(2026, 3, 11))
    assert credit.user_achievements(alex)[0].status == "credited"


def test_moved_mcid_starts_a_new_ten_days_at_the_new_organization(app_ctx):
    move_clock_to(date(2026, 3, 1))
    old, new = user("mia@contoso.com"), user("mia@fabrikam.com")
    contoso_link = link(old, key="555000111")
    apply({contoso_link.id: [entry("tr-az104", date(2026, 2, 1))]})
    assert credit.user_achievements(old)[0].credit_on == date(2026, 3, 11)

    move_clock_to(date(2026, 4, 1))  # past the 30-day cool-off
    fabrikam_link = link(new, key="555000111")
    result = apply({fabrikam_link.id: [entry("tr-az104", date(2026, 2, 1))]})
    # The ended Contoso link no longer credits anything; Fabrikam's credit starts with its link.
    assert (result.added, result.removed) == (1, 1)
    assert credit.user_achievements(old) == []
    [view] = credit.user_achievements(new)
    assert (view.status, view.credit_on) == ("pending", date(2026, 4, 11))


# ---------------------------------------------------------------- the refresh's database step

def test_refresh_adds_updates_removes_and_reports_per_user(app_ctx):
    move_clock_to(date(2026, 3, 1))
    alex, pat = user("alex@contoso.com"), user("pat@contoso.com")
    alex_link, pat_link = link(alex), link(pat, PARTNER_UNIVERSITY)
    first = apply({alex_link.id: [entry("a1", date(2026, 2, 1)), entry("a2", date(2026, 2, 2), code="AZ-305",
                                                                       level="advanced")],
                   pat_link.id: [entry("p1", date(2026, 2, 3), kind="assessment", code="ASSESS-AI")]})
    assert (first.added, first.updated, first.removed) == (3, 0, 0)
    assert "3 added" in first.summary()

    second = apply({alex_link.id: [entry("a1", date(2026, 2, 1), title="Renamed"),
                                   entry("a3", date(2026, 2, 9), kind="training", code=None, level=None)],
                    pat_link.id: [entry("p1", date(2026, 2, 3), kind="assessment", code="ASSESS-AI")]})
    assert (second.added, second.updated, second.removed) == (1, 1, 1)
    assert "1 added, 1 updated, 1 removed." in second.summary()
    titles = {a.item_id: a.title for a in db.session.scalars(select(Achievement))}
    assert titles == {"a1": "Renamed", "a3": "Item a3", "p1": "Item ASSESS-AI"}


def test_second_refresh_changes_nothing_and_says_so(app_ctx):
    move_clock_to(date(2026, 3, 1))
    alex_link = link(user("alex@contoso.com"))
    transcript = {alex_link.id: [entry("a1", date(2026, 2, 1)), entry("a2", date(2026, 2, 5))]}
    assert apply(transcript).changed
    before = achievements_snapshot()
    again = apply(transcript)
    assert not again.changed
    assert "no changes" in again.summary()
    assert achievements_snapshot() == before


def test_removed_link_takes_its_achievements_out_at_the_next_refresh(app_ctx):
    move_clock_to(date(2026, 3, 1))
    alex = user("alex@contoso.com")
    alex_link = link(alex)
    apply({alex_link.id: [entry("a1", date(2026, 2, 1))]})
    linking_service.remove_link(alex, LEARN)
    assert credit.user_achievements(alex) == []  # ended links never show
    result = apply({})
    assert result.removed == 1
    assert db.session.scalar(select(func.count()).select_from(Achievement)) == 0


def test_deleted_users_links_are_refreshed_until_their_removal_date(app_ctx):
    move_clock_to(date(2026, 1, 20))
    priya = user("priya@contoso.com")
    priya_link = link(priya)
    apply({priya_link.id: [entry("p1", date(2026, 1, 2))]})
    delete_user(priya)
    assert [l.id for l in refresh.refreshable_links()] == [priya_link.id]
    move_clock_to(date(2026, 2, 10))
    assert [l.id for l in refresh.refreshable_links()] == [priya_link.id]
    assert not apply({priya_link.id: [entry("p1", date(2026, 1, 2))]}).changed
    move_clock_to(date(2026, 2, 11))
    assert refresh.refreshable_links() == []
    assert apply({}).removed == 1


# ---------------------------------------------------------------- real HTTP to the providers

def test_refresh_over_real_http_after_linking_and_completing_on_the_provider_page(app, browser, idp):
    email = provider_account(idp, "learn", [("certification", "AZ-104", "intermediate", "2026-09-15"),
                                             ("assessment", "ASSESS-AI", "intermediate", "2026-10-01")])
    sign_in(browser, "alex@contoso.com")
    link_account(browser, "learn", email)
    with app.app_context():
        result = refresh.refresh_transcripts()
        assert (result.added, result.links_checked) == (2, 1)
        assert {a.code for a in db.session.scalars(select(Achievement))} == {"AZ-104", "ASSESS-AI"}
        assert not refresh.refresh_transcripts().changed

    # The learner completes one more item on the provider's own account page.
    account_page = browser.open(f"{idp.url}/learn/account")
    assert "Refresh Learner" in account_page.text
    browser.submit(account_page, account_page.form_with(action_contains="/account/transcript"),
                   {"item": "AZ-305"})
    runner = app.test_cli_runner()
    out = runner.invoke(args=["refresh-data"])
    assert out.exit_code == 0, out.output
    assert "1 added, 0 updated, 0 removed." in out.output
    again = runner.invoke(args=["refresh-data"])
    assert again.exit_code == 0 and "no changes" in again.output

    profile = browser.open("/profile")
    assert "Your achievements" in profile.text
    # Completed before the link: pending until ten days after the link's start.
    assert 'data-item="AZ-104" data-status="pending"' in profile.text
    assert 'data-item="AZ-305" data-status="pending"' in profile.text
    with app.app_context():
        linked_on = linking_service.active_link(user("alex@contoso.com"), LEARN).linked_at.date()
        expected = credit.credit_date(date(2026, 9, 15), linked_on)
        move_clock_to(expected)
    profile = browser.open("/profile")
    assert 'data-item="AZ-104" data-status="credited"' in profile.text


def test_provider_failure_gives_a_clear_message_and_writes_nothing(app, browser, idp):
    email = provider_account(idp, "partner-university", [("assessment", "ASSESS-AI", "intermediate",
                                                           "2026-09-01")])
    sign_in(browser, "pat@contoso.com")
    link_account(browser, "partner-university", email)
    with app.app_context():
        refresh.refresh_transcripts()
        before = achievements_snapshot()
        last = refresh.last_refresh()

    app.config["PARTNER_UNIVERSITY_CLIENT_SECRET"] = "wrong-secret"
    from webapp.linking.oidc import init_oauth
    init_oauth(app)  # the registry reads the secret at start-up
    with app.app_context():
        [refused] = refresh.refresh_transcripts().errors
        assert "Partner University refused" in refused and "invalid_client" in refused
        assert "wrong-secret" not in refused
        assert achievements_snapshot() == before and refresh.last_refresh() == last

    app.config["PARTNER_UNIVERSITY_OIDC_DISCOVERY_URL"] = "http://127.0.0.1:9/partner-university/.well-known/openid-configuration"
    init_oauth(app)
    out = app.test_cli_runner().invoke(args=["refresh-data"])
    assert out.exit_code == 1
    assert "Could not read the transcripts from Partner University. Nothing was changed" in out.output
    with app.app_context():
        assert achievements_snapshot() == before


def test_demo_links_refresh_from_the_demo_providers(app, idp):
    """The trainers' story: the seeded links pull the demo transcripts over real HTTP."""
    from webapp.demo.seed import seed_demo_links

    with app.app_context():
        assert seed_demo_links() == 3
        move_mia_to_fabrikam()
        result = refresh.refresh_transcripts()
        assert result.links_checked == 3  # Mia's Contoso link ended when her MCID moved
        today = clock.today()
        carl = credit.user_achievements(user("carl@contoso.com"))  # linked ten days ago
        # (other tests of the session may complete more items on the shared demo accounts)
        assert ("AZ-305", "credited", today) in [(a.code, a.status, a.credit_on) for a in carl]
        priya = credit.user_achievements(user("priya@contoso.com"))  # linked three days ago
        assert ("TRAIN-AZ-FUND", "pending", today + timedelta(days=7)) in [
            (a.code, a.status, a.credit_on) for a in priya]
        mia = credit.user_achievements(user("mia@fabrikam.com"))
        assert {("AZ-104", "pending"), ("SC-900", "pending")} <= {(a.code, a.status) for a in mia}
        assert credit.user_achievements(user("mia@contoso.com")) == []
        assert not refresh.refresh_transcripts().changed
