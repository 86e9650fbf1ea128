"""The linking rules through HTTP: real redirects to the live providers, the clock moved in the
database (as the admin page and the CLI do), never a sleep."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from tests.fixtures.browser import Browser
from tests.fixtures.clock import day, long_date, move_app_to
from tests.fixtures.flows import link_account, provider_consent, provider_sign_in, remove_link, sign_in, start_link
from webapp.extensions import db
from webapp.models import LearningIdentity, LinkedAccount

COOL_OFF = ("You've attempted to associate with a partner organization. However, we require a "
            "period of 30 days between associations. Your next available date for a subsequent "
            "association is {date}.")
YEARLY = ("You've attempted to associate with a partner organization. However, an individual is "
          "limited to three associations a year. Your next available date for a subsequent "
          "association is {date}.")


def text(page) -> str:
    return html.unescape(page.text)


def fresh_link(browser: Browser, provider: str, email: str):
    """A whole linking flow with a fresh provider session (sign-in page, then consent)."""
    browser.http.cookies.clear()
    return link_account(browser, provider, email)


def rows(app) -> list[tuple[str, str | None, str | None]]:
    with app.app_context():
        return [(r.work_user.email, r.mcid, r.end_reason)
                for r in db.session.scalars(select(LinkedAccount).order_by(LinkedAccount.id))]


def count(app, mcid: str) -> int:
    with app.app_context():
        return db.session.scalar(select(LearningIdentity.association_count)
                                 .where(LearningIdentity.identity_key == mcid)) or 0


def test_cool_off_day_29_refused_day_30_allowed_http(app, browser):
    sign_in(browser, "alex@contoso.com")
    move_app_to(app, 0)
    assert "is now linked" in text(fresh_link(browser, "learn", "alex.learner@outlook.com"))
    page = remove_link(browser, "learn")
    assert f"Next available association date: {long_date(day(30))}" in text(page)
    move_app_to(app, 29)
    page = fresh_link(browser, "learn", "alex.learner@outlook.com")
    assert page.url == "http://localhost/profile"
    assert COOL_OFF.format(date=long_date(day(30))) in text(page)
    assert f"Next available association date: {long_date(day(30))}" in text(page)
    assert [r[2] for r in rows(app)] == ["removed by user"]
    move_app_to(app, 30)
    page = fresh_link(browser, "learn", "alex.learner@outlook.com")
    assert "is now linked" in text(page)
    assert [r[2] for r in rows(app)] == ["removed by user", None]
    assert count(app, "987654321") == 2


def test_yearly_cap_fourth_refused_until_oldest_leaves_window_http(app, browser):
    sign_in(browser, "alex@contoso.com")
    for n in (0, 30, 60):
        move_app_to(app, n)
        assert "is now linked" in text(fresh_link(browser, "learn", "alex.learner@outlook.com"))
        remove_link(browser, "learn")
    move_app_to(app, 90)
    page = fresh_link(browser, "learn", "alex.learner@outlook.com")
    assert YEARLY.format(date=long_date(day(365))) in text(page)
    assert f"Next available association date: {long_date(day(365))}" in text(page)
    move_app_to(app, 365)
    assert "is now linked" in text(fresh_link(browser, "learn", "alex.learner@outlook.com"))
    assert count(app, "987654321") == 4


def test_mcid_moves_to_another_organization_http(app, idp):
    contoso, fabrikam = Browser(app.test_client()), Browser(app.test_client())
    sign_in(contoso, "alex@contoso.com")
    sign_in(fabrikam, "mia@fabrikam.com")
    move_app_to(app, 0)
    assert "is now linked" in text(fresh_link(contoso, "learn", "alex.learner@outlook.com"))
    # Within the 30 days, Fabrikam's association is refused and the Contoso link stays.
    move_app_to(app, 10)
    page = fresh_link(fabrikam, "learn", "alex.learner@outlook.com")
    assert COOL_OFF.format(date=long_date(day(30))) in text(page)
    assert rows(app) == [("alex@contoso.com", "987654321", None)]
    move_app_to(app, 30)
    page = fresh_link(fabrikam, "learn", "alex.learner@outlook.com")
    assert "is now linked" in text(page)
    assert 'data-notice="moved-here"' in page.text and "its link with Contoso ended automatically" in text(page)
    assert rows(app) == [("alex@contoso.com", "987654321", "moved to another organization"),
                         ("mia@fabrikam.com", "987654321", None)]
    old = contoso.open("/profile")
    assert 'data-notice="moved"' in old.text
    assert ("Your Microsoft Learn account alex.learner@outlook.com was linked to another organization "
            f"or work account on {long_date(day(30))}, so it was unlinked here automatically.") in text(old)
    assert "Moved to another organization" in old.text  # the history row's reason
    assert "Associate Microsoft Learning Account" in old.text
    assert f"Next available association date: {long_date(day(60))}" in text(old)


def test_relinking_the_linked_account_is_a_no_op_http(app, browser):
    sign_in(browser, "alex@contoso.com")
    move_app_to(app, 0)
    fresh_link(browser, "learn", "alex.learner@outlook.com")
    # The profile offers no link button while linked; the start endpoint is still reachable.
    profile = browser.open("/profile")
    token = profile.form_with(action_contains="/link/learn/remove").fields["csrf_token"]
    browser.http.cookies.clear()
    page = browser.open("/link/learn/start", method="POST", data={"csrf_token": token})
    page = provider_consent(browser, provider_sign_in(browser, page, "alex.learner@outlook.com"))
    assert "This Microsoft Learn account is already linked to your work account." in text(page)
    assert 'flash-info' in page.text
    assert rows(app) == [("alex@contoso.com", "987654321", None)]
    assert count(app, "987654321") == 1


def test_one_learn_account_per_work_user_http(app, browser):
    sign_in(browser, "alex@contoso.com")
    move_app_to(app, 0)
    fresh_link(browser, "learn", "alex.learner@outlook.com")
    move_app_to(app, 40)
    token = browser.open("/profile").form_with(action_contains="/link/learn/remove").fields["csrf_token"]
    browser.http.cookies.clear()
    page = browser.open("/link/learn/start", method="POST", data={"csrf_token": token})
    page = provider_consent(browser, provider_sign_in(browser, page, "mia.mover@outlook.com"))
    assert "One Microsoft Learn account can be linked per work account" in text(page)
    assert rows(app) == [("alex@contoso.com", "987654321", None)]


# --------------------------------------------------------------------------- Learn prerequisites

WORK_ACCOUNT_GUIDANCE = (
    "You signed in to Microsoft Learn with a work (Microsoft Entra ID) account. Sign in to your Learn "
    "profile, open Settings > Account management and associate your personal Microsoft account (MSA); "
    "then select Associate Microsoft Learning Account again and sign in with that personal account.")
NO_MCID_GUIDANCE = (
    "Your Learn profile has no MCID yet. Sign in to Microsoft Learn, complete your certification "
    "profile so that an MCID is generated, then select Associate Microsoft Learning Account again.")


@pytest.fixture
def restore_walt_and_nina(idp):
    """The provider is shared by the whole session: undo what these tests change there."""
    yield
    from idp_mock.models import Account, LearnProfile
    from idp_mock.models import db as idp_db
    with idp.app.app_context():
        walt = idp_db.session.scalar(idp_db.select(Account).filter_by(email="walt.work@contoso.com"))
        for extra in list(walt.profile.accounts):
            if extra.id != walt.id:
                idp_db.session.delete(extra)
        nina = idp_db.session.scalar(idp_db.select(Account).filter_by(email="nina.nomcid@outlook.com"))
        profile: LearnProfile = nina.profile
        profile.mcid = profile.legal_name = profile.country = None
        idp_db.session.commit()


def test_learn_work_account_refused_then_linked_after_attaching_a_personal_msa(
        app, browser, idp, restore_walt_and_nina):
    sign_in(browser, "walt@contoso.com")
    page = fresh_link(browser, "learn", "walt.work@contoso.com")
    assert page.url == "http://localhost/profile"
    assert WORK_ACCOUNT_GUIDANCE in text(page)
    assert rows(app) == []
    # At the provider (still signed in there as the work account): Settings > Account management.
    settings = browser.open(f"{idp.url}/learn/account/settings")
    assert "Account management" in settings.text
    settings = browser.submit(settings, settings.form_with(button="Add account"), {
        "email": "walt.personal@outlook.com", "password": "Walt-Pers0nal", "confirm": "Walt-Pers0nal"})
    assert "A personal Microsoft account is attached to this Learn profile." in text(settings)
    # Associate again; at the provider, switch to the personal account.
    page = start_link(browser, "learn")
    page = browser.submit(page, page.form_with(button="Use another account"), button="Use another account")
    page = provider_consent(browser, provider_sign_in(browser, page, "walt.personal@outlook.com",
                                                      "Walt-Pers0nal"))
    assert "is now linked" in text(page)
    assert rows(app) == [("walt@contoso.com", "123450001", None)]


def test_learn_profile_without_mcid_refused_then_linked_after_completing_certification_profile(
        app, browser, idp, restore_walt_and_nina):
    sign_in(browser, "nina@contoso.com")
    page = fresh_link(browser, "learn", "nina.nomcid@outlook.com")
    assert NO_MCID_GUIDANCE in text(page)
    assert rows(app) == []
    cert = browser.open(f"{idp.url}/learn/account/certification-profile")
    cert = browser.submit(cert, cert.form_with(button="Save certification profile"), {
        "legal_name": "Nina Novak", "country": "Slovenia"})
    assert "Your certification profile is complete. Your MCID is" in text(cert)
    mcid = text(cert).split("Your MCID is ")[1].split(".")[0]
    page = start_link(browser, "learn")
    page = provider_consent(browser, page)  # still signed in at the provider as nina
    assert "is now linked" in text(page) and mcid in page.text
    assert rows(app) == [("nina@contoso.com", mcid, None)]


def test_one_partner_university_account_per_work_user_http(app, browser):
    sign_in(browser, "pat@contoso.com")
    move_app_to(app, 0)
    assert "is now linked" in text(fresh_link(browser, "partner-university", "pat.pu@outlook.com"))
    token = browser.open("/profile").form_with(
        action_contains="/link/partner-university/remove").fields["csrf_token"]
    browser.http.cookies.clear()
    page = browser.open("/link/partner-university/start", method="POST", data={"csrf_token": token})
    page = provider_consent(browser, provider_sign_in(browser, page, "sam.student@outlook.com"))
    assert "One Partner University account can be linked per work account" in text(page)
    with app.app_context():
        assert [(r.email, r.ended_at) for r in db.session.scalars(select(LinkedAccount))] == [
            ("pat.pu@outlook.com", None)]


def test_personal_account_moves_to_another_work_user_of_the_same_organization_http(app):
    alex, carl = Browser(app.test_client()), Browser(app.test_client())
    sign_in(alex, "alex@contoso.com")
    sign_in(carl, "carl@contoso.com")
    move_app_to(app, 0)
    fresh_link(alex, "learn", "alex.learner@outlook.com")
    move_app_to(app, 30)
    assert "is now linked" in text(fresh_link(carl, "learn", "alex.learner@outlook.com"))
    assert rows(app) == [("alex@contoso.com", "987654321", "moved to another work account"),
                         ("carl@contoso.com", "987654321", None)]
    page = alex.open("/profile")
    assert 'data-notice="moved"' in page.text and "Moved to another work account" in page.text
