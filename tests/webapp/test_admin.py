"""Administration: work users (Global admin / Account admin of their own organization), the
simulated clock (Global admin, demo mode), the clock CLI, and privacy: no admin links or
removes a learning account for someone else."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from tests.fixtures.browser import Browser
from tests.fixtures.clock import day, long_date, move_app_to
from tests.fixtures.flows import link_account, provider_sign_in, remove_link, sign_in, start_link
from webapp import clock, users, validation
from webapp.admin import service as admin_service
from webapp.auth import service as auth_service
from webapp.extensions import db
from webapp.models import LinkAttempt, LinkedAccount, WorkUser


def text(page) -> str:
    return html.unescape(page.text)


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(WorkUser.id).where(WorkUser.email == email))


def work_user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(WorkUser))


def as_user(app, email: str) -> Browser:
    browser = Browser(app.test_client())
    sign_in(browser, email)
    return browser


def csrf_token(page) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


NEW_USER = {"email": "new.hire@contoso.com", "display_name": "New Hire", "password": "Welcome-2026"}


# --------------------------------------------------------------------------- who may administer

def test_plain_users_and_partner_admins_get_403_on_admin_pages(app):
    for email in ("alex@contoso.com", "paula.partner@contoso.com"):
        check_403_everywhere(app, email)


def check_403_everywhere(app, email):
    browser = as_user(app, email)
    profile = browser.open("/profile")
    assert "/admin/users" not in profile.text and "/admin/clock" not in profile.text
    token = csrf_token(profile)
    target = user_id(app, "carl@contoso.com")
    for method, path in [("GET", "/admin/users"), ("GET", "/admin/users/new"), ("POST", "/admin/users/new"),
                         ("GET", f"/admin/users/{target}/delete"), ("POST", f"/admin/users/{target}/delete"),
                         ("GET", "/admin/clock"), ("POST", "/admin/clock/advance")]:
        data = {"csrf_token": token, **NEW_USER, "days": "5"} if method == "POST" else None
        page = browser.open(path, method=method, data=data)
        assert page.status == 403, (method, path)
        assert "You do not have access to this page" in page.text
    assert work_user_count(app) == 12
    with app.app_context():
        assert db.session.get(WorkUser, target).deleted_at is None
        assert not clock.clock_is_simulated()


def test_admin_pages_need_sign_in(client):
    for path in ("/admin/users", "/admin/users/new", "/admin/clock"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admins_list_only_their_own_organization(app):
    for email in ("gloria.global@contoso.com", "aaron.account@contoso.com"):
        page = as_user(app, email).open("/admin/users")
        assert page.status == 200 and "Work users of Contoso" in page.text
        assert "alex@contoso.com" in page.text and "mia@contoso.com" in page.text
        assert "fabrikam.com" not in page.text
        assert 'href="/admin/users"' in as_user(app, email).open("/profile").text  # nav link
    page = as_user(app, "frank.global@fabrikam.com").open("/admin/users")
    assert "mia@fabrikam.com" in page.text and "contoso.com" not in page.text


# --------------------------------------------------------------------------- create

def test_admin_creates_a_work_user_who_can_sign_in(app):
    browser = as_user(app, "aaron.account@contoso.com")
    form_page = browser.open("/admin/users/new")
    assert 'type="checkbox"' in form_page.text
    assert 'value="global_admin"' not in form_page.text  # an Account admin cannot give it
    page = browser.submit(form_page, form_page.form_with(button="Create work user"),
                          {**NEW_USER, "email": " New.Hire@Contoso.com ", "roles": "partner_admin"})
    assert page.url.endswith("/admin/users") and "Work user new.hire@contoso.com created." in text(page)
    with app.app_context():
        created = db.session.scalar(select(WorkUser).where(WorkUser.email == "new.hire@contoso.com"))
        assert created.organization.name == "Contoso" and created.role_list == ["partner_admin"]
        assert created.password_hash != NEW_USER["password"]
    newcomer = Browser(app.test_client())
    assert sign_in(newcomer, "new.hire@contoso.com", NEW_USER["password"]).url.endswith("/profile")


def test_global_admin_can_give_several_roles(app):
    browser = as_user(app, "gloria.global@contoso.com")
    form_page = browser.open("/admin/users/new")
    data = dict(form_page.form_with(button="Create work user").fields, **NEW_USER, csrf_token=csrf_token(form_page))
    response = browser.client.post("/admin/users/new", data={**data, "roles": ["global_admin", "account_admin"]})
    assert response.status_code == 302
    with app.app_context():
        created = db.session.scalar(select(WorkUser).where(WorkUser.email == NEW_USER["email"]))
        assert created.role_list == ["global_admin", "account_admin"]


CREATE_ERRORS = [
    ({"email": "alex@contoso.com"}, "A work account with the email alex@contoso.com already exists."),
    ({"email": "ALEX@contoso.com "}, "A work account with the email alex@contoso.com already exists."),
    ({"email": "not-an-email"}, "Enter a valid work email address."),
    ({"email": ""}, "Enter a valid work email address."),
    ({"display_name": "   "}, "Enter a display name."),
    ({"password": "short"}, "The password must have at least 8 characters."),
    ({"roles": "global_admin"}, "Only a Global admin can give the Global admin role."),
    ({"roles": "superuser"}, "Unknown role: superuser"),
]


def test_create_user_validation_errors_write_nothing(app):
    browser = as_user(app, "aaron.account@contoso.com")
    form_page = browser.open("/admin/users/new")
    before = work_user_count(app)
    for change, message in CREATE_ERRORS:
        page = browser.submit(form_page, form_page.form_with(button="Create work user"), {**NEW_USER, **change})
        assert page.status == 422, change
        assert message in text(page) and "The work user was not created." in page.text, change
        assert work_user_count(app) == before, change
        # The typed values stay in the form, except the password.
        if change.get("email"):
            assert f'value="{change["email"]}"' in page.text
        assert NEW_USER["password"] not in page.text
    # Control: the same form with valid values creates the user.
    page = browser.submit(form_page, form_page.form_with(button="Create work user"),
                          {**NEW_USER, "email": "alex@fabrikam.com"})
    assert page.url.endswith("/admin/users") and work_user_count(app) == before + 1


def test_create_user_needs_csrf(app):
    browser = as_user(app, "gloria.global@contoso.com")
    page = browser.open("/admin/users/new", method="POST", data=NEW_USER)
    assert page.status == 400 and work_user_count(app) == 12


# --------------------------------------------------------------------------- delete

def test_delete_user_confirmation_step_then_post(app):
    alex_id = user_id(app, "alex@contoso.com")
    alex = as_user(app, "alex@contoso.com")
    link_account(alex, "learn", "alex.learner@outlook.com")
    gloria = as_user(app, "gloria.global@contoso.com")
    confirm = gloria.open(f"/admin/users/{alex_id}/delete")
    assert confirm.status == 200 and "Delete work user" in confirm.text
    assert "10th of the following month" in confirm.text
    with app.app_context():
        assert db.session.get(WorkUser, alex_id).deleted_at is None  # GET changes nothing
    page = gloria.submit(confirm, confirm.form_with(button="Delete work user"))
    assert page.url.endswith("/admin/users") and "Work user alex@contoso.com deleted." in page.text
    assert "Deleted on" in page.text
    # Alex's open session is gone, and he cannot sign in again.
    assert alex.open("/profile").url.startswith("http://localhost/login")
    assert sign_in(Browser(app.test_client()), "alex@contoso.com").status == 401
    with app.app_context():
        deleted = db.session.get(WorkUser, alex_id)
        assert deleted.deleted_at is not None
        [link] = db.session.scalars(select(LinkedAccount)).all()
        assert link.work_user_id == alex_id and link.ended_at is None  # links stay as they are


def test_delete_user_needs_post_with_csrf(app):
    carl_id = user_id(app, "carl@contoso.com")
    gloria = as_user(app, "gloria.global@contoso.com")
    assert gloria.open(f"/admin/users/{carl_id}/delete", method="POST", data={}).status == 400
    with app.app_context():
        assert db.session.get(WorkUser, carl_id).deleted_at is None


def test_cannot_delete_yourself_or_another_organizations_user(app):
    gloria = as_user(app, "gloria.global@contoso.com")
    me = gloria.open(f"/admin/users/{user_id(app, 'gloria.global@contoso.com')}/delete")
    assert "You cannot delete your own work account." in me.text
    assert 'type="submit"' not in me.text.split("<h1>Delete work user</h1>")[1]  # no button to delete
    token = csrf_token(gloria.open("/admin/users"))
    page = gloria.open(f"/admin/users/{user_id(app, 'gloria.global@contoso.com')}/delete", method="POST",
                       data={"csrf_token": token})
    assert "You cannot delete your own work account." in page.text
    page = gloria.open(f"/admin/users/{user_id(app, 'mia@fabrikam.com')}/delete", method="POST",
                       data={"csrf_token": token})
    assert page.status == 404
    assert gloria.open(f"/admin/users/{user_id(app, 'mia@fabrikam.com')}/delete").status == 404
    assert gloria.open("/admin/users/999999/delete").status == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WorkUser)
                                 .where(WorkUser.deleted_at.is_not(None))) == 0


def test_delete_work_user_service_rules(app_ctx):
    def get(email):
        return db.session.scalar(select(WorkUser).where(WorkUser.email == email))
    gloria, aaron, frank = get("gloria.global@contoso.com"), get("aaron.account@contoso.com"), \
        get("frank.global@fabrikam.com")
    for actor, target, message in [
        (gloria, gloria, "You cannot delete your own work account."),
        (gloria, get("mia@fabrikam.com"), "You can only delete work users of your own organization."),
        (frank, get("alex@contoso.com"), "You can only delete work users of your own organization."),
        (aaron, gloria, "Only a Global admin can delete a Global admin."),
    ]:
        with pytest.raises(validation.ValidationError) as info:
            admin_service.delete_work_user(actor, target)
        assert info.value.message == message
    with pytest.raises(admin_service.NotPermitted):
        admin_service.delete_work_user(get("paula.partner@contoso.com"), get("alex@contoso.com"))
    deleted = admin_service.delete_work_user(aaron, get("alex@contoso.com"))
    assert deleted.deleted_at is not None
    with pytest.raises(validation.ValidationError, match="already deleted"):
        admin_service.delete_work_user(aaron, deleted)
    assert auth_service.authenticate("alex@contoso.com", "Passw0rd!") is None
    # A current account blocks its email; a deleted one does not (rehire, see below).
    with pytest.raises(validation.ValidationError, match="already exists"):
        admin_service.add_work_user(gloria, "carl@contoso.com", "Carl Again", "long-enough")
    with pytest.raises(admin_service.NotPermitted):
        admin_service.add_work_user(get("carl@contoso.com"), "x@contoso.com", "X", "long-enough")


# --------------------------------------------------------------------------- privacy

LINKING_ENDPOINTS = ["/link/learn/start", "/link/partner-university/start"]


def test_admin_pages_offer_no_link_or_remove_for_someone_else(app):
    gloria = as_user(app, "gloria.global@contoso.com")
    alex_id = user_id(app, "alex@contoso.com")
    for path in ("/admin/users", "/admin/users/new", f"/admin/users/{alex_id}/delete", "/admin/clock"):
        page = gloria.open(path)
        assert page.status == 200
        assert "/link/" not in page.text, path
    # The linking endpoints act for the signed-in user only: none takes a user in its path.
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/link/")]
    assert {"/link/<provider>/callback", "/link/<provider>/remove", "/link/<provider>/start"} <= \
        {rule.rule for rule in rules}
    assert all(rule.arguments == {"provider"} for rule in rules), [r.rule for r in rules]
    assert not any("/link" in rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin"))


def test_admin_cannot_start_a_link_for_another_user(app, idp):
    """Extra ids in the query or the form are ignored: the flow belongs to the signed-in admin."""
    alex_id = user_id(app, "alex@contoso.com")
    gloria = as_user(app, "gloria.global@contoso.com")
    token = csrf_token(gloria.open("/profile"))
    foreign = {"user_id": alex_id, "work_user_id": alex_id, "for": "alex@contoso.com"}
    # Partner University: the attempt (and the state in the session) is Gloria's.
    gloria.open(f"/link/partner-university/start?user_id={alex_id}", method="POST",
                data={"csrf_token": token, **foreign})
    with app.app_context():
        [attempt] = db.session.scalars(select(LinkAttempt)).all()
        assert (attempt.provider, attempt.work_user.email) == ("partner-university", "gloria.global@contoso.com")
    gloria.http.cookies.clear()
    page = gloria.open(f"/link/learn/start?user_id={alex_id}&work_user_id={alex_id}", method="POST",
                       data={"csrf_token": token, **foreign})
    page = provider_sign_in(gloria, page, "alex.learner@outlook.com")
    page = gloria.submit(page, page.form_with(button="Allow"), button="Allow")
    assert page.url == "http://localhost/profile"
    with app.app_context():
        [link] = db.session.scalars(select(LinkedAccount)).all()
        assert link.work_user.email == "gloria.global@contoso.com"
        attempts = db.session.scalars(select(LinkAttempt)).all()
        assert {a.work_user_id for a in attempts} == {user_id(app, "gloria.global@contoso.com")}


def test_admin_cannot_remove_another_users_link(app):
    alex = as_user(app, "alex@contoso.com")
    link_account(alex, "learn", "alex.learner@outlook.com")
    alex_id = user_id(app, "alex@contoso.com")
    gloria = as_user(app, "gloria.global@contoso.com")
    token = csrf_token(gloria.open("/profile"))
    for provider in ("learn", "partner-university"):
        page = gloria.open(f"/link/{provider}/remove?user_id={alex_id}", method="POST",
                           data={"csrf_token": token, "user_id": alex_id, "work_user_id": alex_id})
        assert "There was no" in page.text
    with app.app_context():
        [link] = db.session.scalars(select(LinkedAccount)).all()
        assert link.work_user_id == alex_id and link.ended_at is None
    assert "987654321" in alex.open("/profile").text


def test_admin_cannot_complete_another_users_callback(app, idp):
    """Alex's callback (code and state) replayed in Gloria's session fails; Alex's own still works."""
    alex = as_user(app, "alex@contoso.com")
    page = provider_sign_in(alex, start_link(alex, "learn"), "alex.learner@outlook.com")
    page = alex.submit(page, page.form_with(button="Allow"), button="Allow", follow=False)
    callback = page.headers["Location"]
    gloria = as_user(app, "gloria.global@contoso.com")
    start_link(gloria, "learn")  # Gloria has a flow of her own pending: its state must not help
    result = gloria.open(callback)
    assert "does not belong to a linking flow started in this session" in result.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LinkedAccount)) == 0
    done = alex.open(callback)
    assert "is now linked" in done.text
    with app.app_context():
        [link] = db.session.scalars(select(LinkedAccount)).all()
        assert link.work_user.email == "alex@contoso.com"


# --------------------------------------------------------------------------- clock page

def test_global_admin_moves_the_clock_and_the_rules_follow(app):
    alex = as_user(app, "alex@contoso.com")
    link_account(alex, "learn", "alex.learner@outlook.com")
    remove_link(alex, "learn")
    gloria = as_user(app, "gloria.global@contoso.com")
    page = gloria.open("/admin/clock")
    assert page.status == 200 and 'href="/admin/clock"' in page.text
    page = gloria.submit(page, page.form_with(action_contains="/admin/clock/advance"), {"days": "30"})
    assert "The simulated date is now" in page.text and "Simulated date:" in page.text  # banner
    alex.http.cookies.clear()
    assert "is now linked" in text(link_account(alex, "learn", "alex.learner@outlook.com"))
    page = gloria.submit(page, page.form_with(action_contains="/admin/clock/reset"))
    assert "The clock is back to real time." in page.text and "Simulated date:" not in page.text


def test_clock_page_set_date_and_bad_input(app):
    gloria = as_user(app, "gloria.global@contoso.com")
    page = gloria.open("/admin/clock")
    target = day(100)
    done = gloria.submit(page, page.form_with(action_contains="/admin/clock/set"), {"date": target.isoformat()})
    assert f"The simulated date is now {long_date(target)}." in text(done)
    for action, values, message in [
        ("/admin/clock/set", {"date": "2001-01-01"}, "The simulated date must be within 3650 days of today"),
        ("/admin/clock/set", {"date": "not-a-date"}, "Not a valid date value."),
        ("/admin/clock/advance", {"days": "0"}, "Enter a number of days between 1 and 3650."),
        ("/admin/clock/advance", {"days": "abc"}, "Not a valid integer value."),
    ]:
        bad = gloria.submit(page, page.form_with(action_contains=action), values)
        assert bad.status == 422 and message in text(bad), (action, values)
    with app.app_context():
        assert clock.today() == target


def test_account_admin_cannot_move_the_clock_and_demo_mode_off_hides_it(app):
    aaron = as_user(app, "aaron.account@contoso.com")
    assert aaron.open("/admin/clock").status == 403
    assert 'href="/admin/clock"' not in aaron.open("/profile").text
    app.config["DEMO_MODE"] = False
    gloria = as_user(app, "gloria.global@contoso.com")
    assert gloria.open("/admin/clock").status == 404
    assert 'href="/admin/clock"' not in gloria.open("/profile").text


# --------------------------------------------------------------------------- clock CLI

def test_clock_cli(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["clock", "set", day(40).isoformat()])
    assert result.exit_code == 0 and f"Simulated now: {day(40):%Y-%m-%d}" in result.output
    result = runner.invoke(args=["clock", "advance", "5"])
    assert f"Simulated now: {day(45):%Y-%m-%d}" in result.output
    result = runner.invoke(args=["clock", "show"])
    assert f"Simulated now: {day(45):%Y-%m-%d}" in result.output
    assert runner.invoke(args=["clock", "advance", "0"]).exit_code != 0
    result = runner.invoke(args=["clock", "set", "2001-01-01"])
    assert result.exit_code != 0 and "must be within 3650 days" in result.output
    with app.app_context():
        assert clock.today() == day(45)
    result = runner.invoke(args=["clock", "reset"])
    assert result.exit_code == 0 and "Offset:        0 days" in result.output


def test_clock_page_shows_the_simulated_date(app):
    move_app_to(app, 7)
    page = as_user(app, "gloria.global@contoso.com").open("/admin/clock")
    shown = f"{day(7):%b} {day(7).day}, {day(7).year}"  # Babel's English "medium" date
    assert re.search(r'data-field="simulated_now">' + re.escape(shown), page.text)
    assert "Simulated date: " + shown in page.text  # the banner on every page


def test_work_user_list_is_paginated(app):
    """Organizations have tens of thousands of users: the list shows one page at a time."""
    with app.app_context():
        from webapp.models import Organization
        contoso = db.session.scalar(select(Organization).where(Organization.partner_id == "1234567"))
        for n in range(55):
            users.create_work_user(contoso, f"bulk{n:03d}@contoso.com", f"Bulk {n}", "Passw0rd!long")
        total = db.session.scalar(select(func.count()).select_from(WorkUser)
                                  .where(WorkUser.organization_id == contoso.id))
    gloria = as_user(app, "gloria.global@contoso.com")
    first = gloria.open("/admin/users")
    second = gloria.open("/admin/users?page=2")
    rows_first = re.findall(r'data-user="([^"]+)"', first.text)
    rows_second = re.findall(r'data-user="([^"]+)"', second.text)
    assert len(rows_first) == 50
    assert len(rows_second) == total - 50
    assert not set(rows_first) & set(rows_second)
    assert "Page 1 of 2" in text(first) and "Page 2 of 2" in text(second)
    # Out-of-range pages show the last page rather than an error.
    assert re.findall(r'data-user="([^"]+)"', gloria.open("/admin/users?page=99").text) == rows_second


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
