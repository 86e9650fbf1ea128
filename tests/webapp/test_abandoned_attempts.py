"""Link attempts whose browser never came back are closed as abandoned after the state's lifetime."""
from __future__ import annotations

import json
import time
from datetime import timedelta

from sqlalchemy import select, update

from tests.fixtures.flows import provider_consent, provider_sign_in, sign_in, start_link
from webapp import clock
from webapp.extensions import db
from webapp.models import LinkAttempt, LinkedAccount
from webapp.traces import recorder


def _attempts(app) -> list[LinkAttempt]:
    with app.app_context():
        rows = list(db.session.scalars(select(LinkAttempt).order_by(LinkAttempt.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def _age_attempts(app, seconds: int) -> None:
    with app.app_context():
        db.session.execute(update(LinkAttempt).values(
            started_at=clock.now() - timedelta(seconds=seconds)))
        db.session.commit()


def test_an_attempt_left_at_the_provider_shows_abandoned_after_the_state_lifetime(app, browser):
    sign_in(browser, "alex@contoso.com")
    start_link(browser, "learn")  # the browser stays at the provider's sign-in page
    [attempt] = _attempts(app)
    assert attempt.outcome == "pending"
    assert "Pending" in browser.open("/traces").text

    _age_attempts(app, app.config["OIDC_STATE_LIFETIME"] + 60)
    listing = browser.open("/traces").text
    assert "Abandoned" in listing and "Pending" not in listing
    assert "Abandoned" in browser.open(f"/traces/{attempt.id}").text
    assert json.loads(browser.open(f"/traces/{attempt.id}.json").text)["outcome"] == "abandoned"
    assert "abandoned" in browser.open("/profile").text  # "Latest linking attempt: …, abandoned"


def test_the_start_of_a_flow_and_the_cli_close_them_in_the_database(app, browser):
    sign_in(browser, "alex@contoso.com")
    start_link(browser, "learn")
    _age_attempts(app, app.config["OIDC_STATE_LIFETIME"] + 60)
    # The next start (housekeeping due) closes the old one; the new one stays pending.
    app.extensions.get("learnlink_trace_purge", {})["at"] = None
    start_link(browser, "partner-university")
    old, new = _attempts(app)
    assert (old.outcome, new.outcome) == ("abandoned", "pending") and old.finished_at is not None

    _age_attempts(app, app.config["OIDC_STATE_LIFETIME"] + 60)
    result = app.test_cli_runner().invoke(args=["traces", "close-abandoned"])
    assert result.exit_code == 0 and "1 attempt(s) closed as abandoned." in result.output
    assert [a.outcome for a in _attempts(app)] == ["abandoned", "abandoned"]


def test_a_fresh_pending_attempt_is_left_alone(app, browser):
    sign_in(browser, "alex@contoso.com")
    start_link(browser, "learn")
    with app.app_context():
        assert recorder.close_abandoned_attempts() == 0
    assert [a.outcome for a in _attempts(app)] == ["pending"]


def test_an_answer_after_the_state_lifetime_links_nothing(app, browser):
    app.config["OIDC_STATE_LIFETIME"] = 1
    sign_in(browser, "alex@contoso.com")
    page = start_link(browser, "learn")
    time.sleep(1.5)
    page = provider_sign_in(browser, page, "alex.learner@outlook.com")
    if "/profile" not in page.url:
        page = provider_consent(browser, page)
    assert "does not belong to a linking flow" in page.text
    with app.app_context():
        assert db.session.scalar(select(LinkedAccount.id)) is None
    first, late = _attempts(app)
    assert first.outcome == "pending" and late.outcome == "failed"
    assert "Abandoned" in browser.open("/traces").text
    # The same session then links normally.
    app.config["OIDC_STATE_LIFETIME"] = 3600
    page = start_link(browser, "learn")  # still signed in at the provider: its consent page
    assert "is now linked" in provider_consent(browser, page).text
