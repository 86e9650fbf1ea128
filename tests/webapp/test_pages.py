"""What Partner Center's pages show: every form error at once, only the actions the viewer may
take, the same top bar on every page, whose next association date is shown."""
from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from tests.fixtures.browser import Browser
from tests.fixtures.flows import sign_in
from webapp.extensions import db
from webapp.models import WorkUser


def as_user(app, email: str) -> Browser:
    browser = Browser(app.test_client())
    sign_in(browser, email)
    return browser


def field_errors(page_text: str) -> dict[str, list[str]]:
    """Each field's error messages, by the id of the block that holds them."""
    blocks = re.findall(r'<div id="([\w-]+)-errors">(.*?)</div>', page_text, re.S)
    return {name: [html.unescape(m) for m in re.findall(r'<p class="field-error"[^>]*>(.*?)</p>', body)]
            for name, body in blocks}


def test_create_user_form_shows_every_fields_error_after_one_submit(app):
    browser = as_user(app, "aaron.account@contoso.com")
    form_page = browser.open("/admin/users/new")
    assert 'aria-describedby="None"' not in form_page.text
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(WorkUser))
    page = browser.submit(form_page, form_page.form_with(button="Create work user"), {
        "email": "not-an-address", "display_name": "  ", "password": "short"})
    assert page.status == 422
    errors = field_errors(page.text)
    assert errors == {
        "email": ["Enter a valid work email address."],
        "display_name": ["Enter a display name."],
        "password": ["The password must have at least 8 characters."],
    }
    # Each input names its own hint and errors, and no attribute reads "None".
    assert 'aria-describedby="None"' not in page.text
    assert re.search(r'<input[^>]*aria-describedby="email-errors"[^>]*id="email"', page.text)
    assert re.search(r'<input[^>]*aria-describedby="password-hint password-errors"[^>]*id="password"',
                     page.text)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WorkUser)) == before


def test_user_list_offers_delete_only_where_the_admin_may_delete(app):
    with app.app_context():
        ids = {email: id_ for email, id_ in db.session.execute(select(WorkUser.email, WorkUser.id))}
    account_admin = as_user(app, "aaron.account@contoso.com").open("/admin/users")
    global_admin = as_user(app, "gloria.global@contoso.com").open("/admin/users")

    def delete_links(page) -> set[int]:
        return {int(i) for i in re.findall(r'href="/admin/users/(\d+)/delete"', page.text)}

    assert ids["gloria.global@contoso.com"] not in delete_links(account_admin)
    assert ids["aaron.account@contoso.com"] not in delete_links(account_admin)  # themselves
    assert ids["alex@contoso.com"] in delete_links(account_admin)
    assert ids["aaron.account@contoso.com"] in delete_links(global_admin)
    # Every link offered leads to a confirmation step that may go on.
    browser = as_user(app, "aaron.account@contoso.com")
    for user_id in delete_links(account_admin):
        step = browser.open(f"/admin/users/{user_id}/delete")
        assert step.status == 200 and "Only a Global admin" not in step.text, user_id


NAV_LINKS = ("My Learn profile", "Flow inspector", "Work users", "Clock", "Reports", "Audit log",
             "Demo guide")


def test_top_bar_is_the_same_on_every_page_of_the_operator(app):
    browser = as_user(app, "gloria.global@contoso.com")
    for path in ("/profile", "/traces", "/admin/users", "/admin/clock", "/reports/", "/reports/skills",
                 "/reports/learn-analytics", "/reports/skilling-points", "/audit", "/demo"):
        page = browser.open(path)
        assert page.status == 200, path
        nav = re.search(r'<nav class="topnav".*?</nav>', page.text, re.S).group(0)
        labels = [html.unescape(label) for label in re.findall(r"<a [^>]*>([^<]+)</a>", nav)]
        assert [label for label in labels if label in NAV_LINKS] == list(NAV_LINKS), path


def test_skilling_points_page_shows_no_repository_path(app):
    page = as_user(app, "gloria.global@contoso.com").open("/reports/skilling-points")
    assert page.status == 200 and "Sample values." in page.text
    assert "skilling_points.json" not in page.text and "webapp/" not in page.text


def test_next_association_date_names_the_account_it_applies_to(app, idp):
    from tests.fixtures.flows import link_account, remove_link

    browser = as_user(app, "pat@contoso.com")
    before = html.unescape(browser.open("/profile").text)
    assert "Next available association date: " in before  # never linked: no account to name
    link_account(browser, "partner-university", "pat.pu@outlook.com")
    remove_link(browser, "partner-university")
    page = html.unescape(browser.open("/profile").text)
    section = re.search(r'<section class="card link-section"[^>]*id="your-learning">.*?</section>', page, re.S).group(0)
    assert re.search(r"Next available association date: \w+ \d+, \d{4} \(for pat\.pu@outlook\.com\)", section)
    assert "(30 days between associations)" in section


def audit_rows_html(page_text: str) -> list[str]:
    body = re.search(r"<tbody>(.*?)</tbody>", page_text, re.S).group(1)
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_audit_log_names_actions_and_shows_both_times_when_the_clock_is_moved(app):
    from tests.fixtures.clock import day, move_app_to

    admin = as_user(app, "gloria.global@contoso.com")  # a sign-in at real time
    move_app_to(app, 40)
    as_user(app, "alex@contoso.com")  # a sign-in while the clock is simulated
    rows = audit_rows_html(html.unescape(admin.open("/audit/").text))
    simulated, real = rows[0], rows[-1]
    assert 'data-action="sign_in">Signed in</td>' in simulated and "sign_in<" not in simulated
    assert f"Simulated: {day(40):%Y-%m-%d} " in simulated
    assert "Simulated:" not in real
    french = html.unescape(admin.open("/audit/?lang=fr").text)
    assert ">sign_in<" not in french and 'data-action="sign_in">Connexion</td>' in french
