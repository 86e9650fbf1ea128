"""Learn's prerequisites (a personal MSA on the Learn profile, an MCID) refused with guidance and
met at the provider; Partner University has none; a deleted work user links nothing."""
from __future__ import annotations

import pytest

from tests.fixtures.clock import move_to
from tests.fixtures.flows import provider_consent, provider_sign_in, sign_in, start_link
from tests.fixtures.rules import (
    association_count, fresh_link, in_app_context, learn, pu, refused, rows, text, user)
from webapp.admin import service as admin_service
from webapp.linking import service as linking_service
from webapp.models import LEARN

WORK_ACCOUNT_GUIDANCE = (
    "You signed in to Microsoft Learn with a work (Microsoft Entra ID) account. Sign in to your Learn "
    "profile, open Settings > Account management and associate your personal Microsoft account (MSA); "
    "then select Associate Microsoft Learning Account again and sign in with that personal account.")
NO_MCID_GUIDANCE = (
    "Your Learn profile has no MCID yet. Sign in to Microsoft Learn, complete your certification "
    "profile so that an MCID is generated, then select Associate Microsoft Learning Account again.")


@in_app_context
def test_learn_sign_in_with_a_work_account_is_refused_with_guidance():
    move_to(0)
    error = refused("walt@contoso.com", learn("walt.work@contoso.com", "123450001", kind="work"))
    assert error.code == "work_account"
    assert error.message == WORK_ACCOUNT_GUIDANCE


@in_app_context
def test_learn_profile_without_mcid_is_refused_with_guidance():
    move_to(0)
    error = refused("nina@contoso.com", learn("nina.nomcid@outlook.com", None))
    assert error.code == "no_mcid"
    assert error.message == NO_MCID_GUIDANCE
    assert association_count(LEARN, "") == 0


@in_app_context
def test_partner_university_has_no_mcid_prerequisite():
    move_to(0)
    link = linking_service.associate_account(user("pat@contoso.com"), pu())
    assert link.mcid is None


@in_app_context
def test_a_deleted_work_user_cannot_link():
    move_to(0)
    admin_service.delete_work_user(user("gloria.global@contoso.com"), user("alex@contoso.com"))
    assert refused("alex@contoso.com", learn()).code == "user_deleted"


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
