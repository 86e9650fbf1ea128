"""Work users' email addresses: look-alikes refused with a clear message, one normal form, a rehire
with a deleted user's address as a new person, and reminders to those who never signed in or
linked."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.fixtures.admin_pages import as_user, text, user_id, work_user_count
from tests.fixtures.browser import Browser
from tests.fixtures.clock import long_date
from tests.fixtures.flows import link_account, sign_in
from webapp import users
from webapp.admin import service as admin_service
from webapp.extensions import db
from webapp.models import LinkedAccount, WorkUser


NEW_USER = {"email": "new.hire@contoso.com", "display_name": "New Hire", "password": "Welcome-2026"}


# --------------------------------------------------------------------------- look-alike addresses

LOOK_ALIKES = [
    # (typed address, message) next to the existing alex@contoso.com
    ("alex@contoso.com\u200b", "contains an invisible character"),
    ("al\u200dex@contoso.com", "contains an invisible character"),
    ("alex@c\u043entoso.com", "mixes letters of different alphabets"),   # Cyrillic о
    ("\u0430lex@contoso.com", "mixes letters of different alphabets"),   # Cyrillic а
    ("\uff41lex@contoso.com", "A work account with the email alex@contoso.com already exists"),  # full-width a
]


@pytest.mark.parametrize("email,message", LOOK_ALIKES)
def test_look_alike_of_an_existing_address_is_refused_with_a_clear_message(app, email, message):
    browser = as_user(app, "gloria.global@contoso.com")
    form_page = browser.open("/admin/users/new")
    before = work_user_count(app)
    page = browser.submit(form_page, form_page.form_with(button="Create work user"), {**NEW_USER, "email": email})
    assert page.status == 422 and message in text(page), text(page)[:3000]
    assert work_user_count(app) == before


def test_addresses_are_stored_in_one_normal_form(app_ctx):
    assert users.normalize_email("  \uff2e\uff45\uff57@Contoso.COM ") == "new@contoso.com"
    org = db.session.get(WorkUser, user_id(app_ctx, "alex@contoso.com")).organization
    # A non-Latin address that looks like no existing one is a real address: accepted.
    created = users.create_work_user(org, "\u0430\u043b\u0435\u043a\u0441@contoso.com", "Алекс", "Welcome-2026")
    assert created.email == "\u0430\u043b\u0435\u043a\u0441@contoso.com"


def test_rehire_with_a_deleted_users_email_is_a_new_person_record(app):
    """A rehire: the deleted record keeps its history and Skills report removal date."""
    old_id = user_id(app, "alex@contoso.com")
    alex = as_user(app, "alex@contoso.com")
    link_account(alex, "learn", "alex.learner@outlook.com")
    gloria = as_user(app, "gloria.global@contoso.com")
    confirm = gloria.open(f"/admin/users/{old_id}/delete")
    gloria.submit(confirm, confirm.form_with(button="Delete work user"))
    form_page = gloria.open("/admin/users/new")
    page = gloria.submit(form_page, form_page.form_with(button="Create work user"),
                         {**NEW_USER, "email": "alex@contoso.com", "display_name": "Alex Rehired"})
    assert page.url.endswith("/admin/users") and "Work user alex@contoso.com created." in text(page)
    with app.app_context():
        rows = db.session.scalars(select(WorkUser).where(WorkUser.email == "alex@contoso.com")
                                  .order_by(WorkUser.id)).all()
        assert [r.id == old_id for r in rows] == [True, False]
        old, new = rows
        assert old.deleted_at is not None and new.deleted_at is None
        [link] = db.session.scalars(select(LinkedAccount)).all()
        assert link.work_user_id == old.id  # the history stays with the old record
        deleted_on = old.deleted_at.date()
    # The new person signs in with the new password and has no link of their own.
    rehired = Browser(app.test_client())
    profile = sign_in(rehired, "alex@contoso.com", NEW_USER["password"])
    assert profile.url.endswith("/profile") and "Alex Rehired" in text(profile)
    assert "alex.learner@outlook.com" not in text(profile)
    # The old record is still in the Skills report, deleted, with its removal date.
    skills = text(gloria.open("/reports/skills"))
    assert "Deleted on" in skills and "alex.learner@outlook.com" in skills
    from webapp.reports.credit import skills_report_removal_date
    assert long_date(skills_report_removal_date(deleted_on)) in skills
    # A second current account with the same email is still refused.
    form_page = gloria.open("/admin/users/new")
    page = gloria.submit(form_page, form_page.form_with(button="Create work user"),
                         {**NEW_USER, "email": "alex@contoso.com"})
    assert "A work account with the email alex@contoso.com already exists." in text(page)


def test_users_page_follows_up_who_never_signed_in_or_linked_with_a_reminder(app, monkeypatch):
    """The "no response" FAQ: each user's status with a filter, and a reminder to copy."""
    def row(page, email):
        return text(page).split(f'data-user="{email}"')[1].split("</tr>")[0]

    gloria = as_user(app, "gloria.global@contoso.com")
    page = gloria.open("/admin/users")
    assert "Never signed in" in row(page, "alex@contoso.com")
    assert "Signed in, not linked" in row(page, "gloria.global@contoso.com")
    alex = as_user(app, "alex@contoso.com")
    assert "Signed in, not linked" in row(gloria.open("/admin/users"), "alex@contoso.com")
    link_account(alex, "learn", "alex.learner@outlook.com")
    link_account(alex, "partner-university", "pat.pu@outlook.com")
    page = gloria.open("/admin/users")
    assert "Linked: Microsoft Learn, Partner University" in row(page, "alex@contoso.com")
    assert "Reminder…" not in row(page, "alex@contoso.com")

    never = text(gloria.open("/admin/users?status=never_signed_in"))
    assert 'data-user="nina@contoso.com"' in never and 'data-user="alex@contoso.com"' not in never
    assert 'data-user="gloria.global@contoso.com"' not in never and "mia@fabrikam.com" not in never
    linked = text(gloria.open("/admin/users?status=linked"))
    assert 'data-user="alex@contoso.com"' in linked and 'data-user="nina@contoso.com"' not in linked
    not_linked = text(gloria.open("/admin/users?status=not_linked"))
    assert 'data-user="gloria.global@contoso.com"' in not_linked and 'data-user="alex@contoso.com"' not in not_linked
    monkeypatch.setattr(admin_service, "USERS_PAGE_SIZE", 2)  # the filter stays from page to page
    assert 'href="/admin/users?page=2&amp;status=never_signed_in"' in gloria.open(
        "/admin/users?status=never_signed_in").text
    monkeypatch.undo()
    bad = gloria.open("/admin/users?status=everyone")
    assert bad.status == 400 and "Unknown status filter" in bad.text
    assert "verify the email address used" in text(gloria.open("/admin/users"))

    # The reminder: sign-in address, the steps, the FAQ's advice; no email is sent.
    nina_row = row(gloria.open("/admin/users"), "nina@contoso.com")
    reminder = gloria.open(re.search(r'href="([^"]+/reminder)"', nina_row).group(1))
    body = text(reminder).split('data-field="reminder">')[1].split("</textarea>")[0]
    assert body.startswith("Hello Nina Novak,") and "nina@contoso.com" in body
    assert "sign in at http://localhost/login" in body
    assert '"Associate Microsoft Learning Account"' in body and '"Get Partner University Access"' in body
    assert "no admin can link on your behalf" in body and body.rstrip().endswith("Gloria Global")
    assert "First verify the email address used" in text(reminder)
    # Only the admin's own organization, only current users; plain users get 403.
    assert gloria.open(f"/admin/users/{user_id(app, 'mia@fabrikam.com')}/reminder").status == 404
    assert alex.open(f"/admin/users/{user_id(app, 'nina@contoso.com')}/reminder").status == 403
