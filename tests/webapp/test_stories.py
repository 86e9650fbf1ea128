"""Every story of the demo guide, run as a trainer runs it: the steps come from the very data the
guide page renders (webapp/demo/stories.py), in order, each done through the pages (Partner Center
and the live providers, with their real redirects), and every promised sentence is checked on the
page the step ends on."""
from __future__ import annotations

import html
import re

import pytest

from tests.fixtures.browser import Browser, Page
from tests.fixtures.flows import DEMO_PASSWORD, provider_consent, provider_sign_in, sign_in, start_link
from tests.fixtures.report_helpers import run_refresh_worker
from webapp.demo import stories as guide


def read_guide(app) -> list[guide.Story]:
    """The stories as the guide page shows them now."""
    with app.test_request_context():
        return guide.stories()


class Trainer:
    """One browser per person (a work user in Partner Center, an account at a provider)."""

    def __init__(self, app, idp_url: str):
        self.app, self.idp_url = app, idp_url
        self.browsers: dict[str, Browser] = {}

    def browser(self, who: str) -> Browser:
        if who not in self.browsers:
            self.browsers[who] = Browser(self.app.test_client())
        return self.browsers[who]

    def as_user(self, email: str) -> Browser:
        fresh = email not in self.browsers
        browser = self.browser(email)
        if fresh or browser.open("/profile").url.endswith("/login"):
            assert sign_in(browser, email).url.endswith("/profile"), email
        return browser

    def at_provider(self, account: str, path: str) -> tuple[Browser, Page]:
        """The person's own browser at Learn, signed in as ``account``."""
        browser = self.browser("provider:" + account)
        page = browser.open(f"{self.idp_url}/learn{path}")
        if 'name="password"' in page.text:
            provider_sign_in(browser, page, account)
            page = browser.open(f"{self.idp_url}/learn{path}")
        assert page.status == 200, page.text[:500]
        return browser, page

    def do(self, action: guide.Action) -> Page:
        kind = action.kind
        if kind == guide.RESET:
            browser = self.as_user(action.user)
            page = browser.open("/demo/reset")
            page = browser.submit(page, page.form_with(action_contains="/demo/reset"), {"confirm": "y"})
            self.browsers.clear()  # every session ended with the reset
            return page
        if kind == guide.SIGN_IN:
            self.browsers.pop(action.user, None)
            return sign_in(self.browser(action.user), action.user)
        if kind == guide.LINK:
            browser = self.as_user(action.user)
            page = start_link(browser, action.value)
            if 'value="consent"' in page.text and action.account not in page.text:
                page = browser.submit(page, page.form_with(button="Use another account"),
                                      button="Use another account")
            if 'name="password"' in page.text:
                page = provider_sign_in(browser, page, action.account)
            if 'value="consent"' in page.text:
                page = provider_consent(browser, page)
            return page
        if kind == guide.REMOVE:
            browser = self.as_user(action.user)
            page = browser.open("/profile")
            return browser.submit(page, page.form_with(action_contains=f"/link/{action.value}/remove"))
        if kind == guide.OPEN:
            return self.as_user(action.user).open(action.value)
        if kind == guide.LATEST_TRACE:
            browser = self.as_user(action.user)
            profile = browser.open("/profile")
            href = re.search(r'<a href="([^"]+)">See what happened</a>', profile.text).group(1)
            return browser.open(href)
        if kind == guide.MOVE_CLOCK:
            browser = self.as_user(action.user)
            page = browser.open("/admin/clock")
            return browser.submit(page, page.form_with(action_contains="/admin/clock/set"), {"date": action.value})
        if kind == guide.REFRESH:
            browser = self.as_user(action.user)
            page = browser.open("/reports/")
            browser.submit(page, page.form_with(action_contains="/reports/refresh"))
            run_refresh_worker(self.app)  # what the worker started with the servers does
            return browser.open("/reports/")  # the trainer reloads: the refresh is done
        if kind == guide.DELETE_USER:
            browser = self.as_user(action.user)
            users = browser.open("/admin/users")
            row = users.text.split(f'data-user="{action.value}"')[1].split("</tr>")[0]
            confirm = browser.open(re.search(r'href="([^"]+/delete)"', row).group(1))
            return browser.submit(confirm, confirm.form_with(button="Delete work user"))
        if kind == guide.COMPLETE:
            browser, page = self.at_provider(action.user, "/account")
            return browser.submit(page, page.form_with(action_contains="/account/transcript"), {"item": action.value})
        if kind == guide.GENERATE_MCID:
            browser, page = self.at_provider(action.user, "/account/certification-profile")
            return browser.submit(page, page.form_with(button="Save certification profile"),
                                  {"legal_name": "Nina Novak", "country": "United States"})
        if kind == guide.ATTACH_MSA:
            browser, page = self.at_provider(action.user, "/account/settings")
            return browser.submit(page, page.form_with(button="Add account"),
                                  {"email": action.value, "password": DEMO_PASSWORD, "confirm": DEMO_PASSWORD})
        raise AssertionError(f"the guide names an action the trainer cannot do: {kind}")


def run_story(trainer: Trainer, app, key: str) -> None:
    story = next(s for s in read_guide(app) if s.key == key)  # the page as the trainer reads it
    assert story.steps[0].action.kind == guide.RESET if story.reset_first else True
    for number, step in enumerate(story.steps, 1):
        assert step.action is not None, f"{key} step {number} has nothing to do"
        assert step.shows or step.hides, f"{key} step {number} promises nothing"
        page = trainer.do(step.action)
        text = html.unescape(page.text)
        for promise in step.shows:
            assert promise in text, f"{key} step {number}: {step.text}\nmissing: {promise}\n{text[:3000]}"
        for gone in step.hides:
            assert gone not in text, f"{key} step {number}: {step.text}\nstill shown: {gone}"


def story_keys() -> list[str]:
    return ["new-employee", "mcid-moves", "no-mcid", "work-account", "cool-off", "credit-pending",
            "deleted-user"]


def test_the_guide_lists_these_stories_and_says_when_to_reset(demo_app):
    stories = read_guide(demo_app)
    assert [s.key for s in stories] == story_keys()
    text = html.unescape(demo_app.test_client().get("/demo").get_data(as_text=True))
    assert "each story that moves the clock starts with the demo reset" in text
    for story in stories:
        moves_clock = any(step.action.kind == guide.MOVE_CLOCK for step in story.steps)
        assert story.reset_first == moves_clock, story.key
        section = text.split(f'id="{story.key}"')[1].split("</section>")[0]
        assert ('data-field="reset-first"' in section) == story.reset_first
        for step in story.steps:  # the page shows the steps the tests run
            assert html.unescape(step.text) in section


def test_the_trainer_guide_document_lists_the_same_stories_in_the_same_order(demo_app):
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "trainer-guide.md").read_text()
    items = re.split(r"^\d+\. ", doc.split("**When to reset.**")[0], flags=re.M)[1:]
    listed = [re.findall(r"\((\w+)\)", item)[-1] for item in items]
    assert listed == [s.work_users[0]["email"].split("@")[0] for s in read_guide(demo_app)]
    resets = [str(n) for n, s in enumerate(read_guide(demo_app), 1) if s.reset_first]
    assert f"stories {resets[0]}–{resets[-1]} move the clock" in doc


@pytest.mark.parametrize("key", story_keys())
def test_story_runs_as_the_guide_says(demo_app, control_idp, key):
    run_story(Trainer(demo_app, control_idp.url), demo_app, key)


def test_all_stories_run_in_order_with_the_resets_the_guide_names(demo_app, control_idp):
    trainer = Trainer(demo_app, control_idp.url)
    for key in story_keys():
        run_story(trainer, demo_app, key)
