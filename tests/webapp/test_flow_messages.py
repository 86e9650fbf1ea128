"""What a failed linking flow tells: expected and actual values of a failed id_token check (in
the message and the flow inspector), and check names for QA only, never after a plain Cancel."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from tests.fixtures.browser import Browser
from tests.fixtures.flows import provider_consent, provider_sign_in, sign_in, start_link
from tests.fixtures.servers import webapp_config
from webapp.extensions import db
from webapp.models import LinkAttempt


def flashes(page) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<div class="flash[^"]*"[^>]*>(.*?)</div>', page.text, re.S)]


def run_flow(browser: Browser, provider: str, email: str, allow: bool = True):
    page = start_link(browser, provider)
    page = provider_sign_in(browser, page, email)
    if 'value="consent"' in page.text:
        page = provider_consent(browser, page, allow=allow)
    return page


def last_steps(app) -> list[dict]:
    with app.app_context():
        return db.session.scalars(select(LinkAttempt).order_by(LinkAttempt.id.desc())).first().steps


def test_wrong_aud_shows_expected_and_actual_in_message_and_flow_inspector(app, browser, control):
    sign_in(browser, "alex@contoso.com")
    control.arm("learn", "id_token_wrong_aud", client_id="partner-center-learn")
    page = run_flow(browser, "learn", "alex.learner@outlook.com")
    [message] = flashes(page)
    assert ("The ID token from Microsoft Learn failed the aud check: expected partner-center-learn, "
            "got qa-some-other-client.") in message
    [failed] = [s for s in last_steps(app) if s["step"] == "check_aud"]
    assert failed["ok"] is False
    assert failed["detail"]["expected"] == "partner-center-learn"
    assert failed["detail"]["actual"] == "qa-some-other-client"
    inspector = browser.open("/traces")
    detail = browser.open(re.search(r'href="(/traces/\d+)"', inspector.text).group(1))
    row = re.search(r'<tr data-step="check_aud">.*?</tr>', detail.text, re.S).group(0)
    assert re.search(r"<code>expected</code></dt>\s*<dd>\s*<code>partner-center-learn</code>", row)
    assert re.search(r"<code>actual</code></dt>\s*<dd>\s*<code>qa-some-other-client</code>", row)


def test_wrong_nonce_shows_only_the_first_characters(app, browser, control):
    sign_in(browser, "alex@contoso.com")
    control.arm("learn", "id_token_nonce_wrong", client_id="partner-center-learn")
    page = run_flow(browser, "learn", "alex.learner@outlook.com")
    [message] = flashes(page)
    match = re.search(r"failed the nonce check: expected (\S+), got (\S+)\.", message)
    assert match, message
    expected, actual = match.groups()
    assert expected.endswith("…") and len(expected) == 7
    assert actual == "qa-wro…"
    [failed] = [s for s in last_steps(app) if s["step"] == "check_nonce"]
    assert failed["detail"]["expected"] == expected and failed["detail"]["actual"] == actual


@pytest.fixture
def end_user_app(idp, tmp_path):
    """The webapp as installed for end users: QA mode off (the default)."""
    from webapp import create_app
    from webapp.config import Config
    from webapp.demo.seed import seed_demo

    assert Config.QA_MODE is False
    config = webapp_config(idp.url, f"sqlite:///{tmp_path / 'webapp.sqlite'}")
    del config["QA_MODE"]
    app = create_app(config)
    with app.app_context():
        seed_demo(with_links=False)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_end_users_see_no_check_names(end_user_app, control):
    browser = Browser(end_user_app.test_client())
    sign_in(browser, "alex@contoso.com")
    control.arm("learn", "id_token_wrong_aud", client_id="partner-center-learn")
    page = run_flow(browser, "learn", "alex.learner@outlook.com")
    [message] = flashes(page)
    assert "failed the aud check" in message and "Failed check" not in message
    # The flow inspector still names it.
    steps = last_steps(end_user_app)
    assert steps[-1]["detail"]["check"] == "id_token_aud"


@pytest.mark.parametrize("qa_mode", [True, False])
def test_cancel_at_the_provider_names_no_check(qa_mode, app, browser):
    app.config["QA_MODE"] = qa_mode
    sign_in(browser, "alex@contoso.com")
    page = run_flow(browser, "learn", "alex.learner@outlook.com", allow=False)
    assert flashes(page) == ["You cancelled the sign-in at Microsoft Learn; nothing was linked."]


def test_qa_mode_names_the_failed_check(app, browser, control):
    sign_in(browser, "alex@contoso.com")
    control.arm("learn", "id_token_wrong_aud", client_id="partner-center-learn")
    page = run_flow(browser, "learn", "alex.learner@outlook.com")
    [message] = flashes(page)
    assert message.endswith("(Failed check: id_token_aud)")
