"""Administration: work users (Global admin / Account admin of their own organization), the
simulated clock (Global admin, demo mode), the clock CLI, and privacy: no admin links or
removes a learning account for someone else."""
from __future__ import annotations


import pytest
from sqlalchemy import func, select

from tests.fixtures.admin_pages import as_user, csrf_token, text, user_id, work_user_count
from tests.fixtures.browser import Browser
from tests.fixtures.flows import link_account, provider_sign_in, sign_in, start_link
from webapp import clock, validation
from webapp.admin import service as admin_service
from webapp.auth import service as auth_service
from webapp.extensions import db
from webapp.models import LinkAttempt, LinkedAccount, WorkUser


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
