"""Every back-channel call has a total deadline and a size cap (webapp/linking/backchannel.py).

Over real HTTP against tests/fixtures/misbehaving_server.py: a provider endpoint that drip-feeds
one byte every quarter second (status line or body), or sends a 400 MB answer. The flow must end
within the deadline (1 s in these tests) plus a margin, with a clear message naming the call, the attempt
closed with that check, nothing written, and the worker's memory not grown by the body's size.
"""
from __future__ import annotations

import time
import tracemalloc
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from tests.fixtures.browser import Browser
from tests.fixtures.flows import sign_in
from tests.fixtures.misbehaving_server import MisbehavingServer
from webapp.reports import refresh
from webapp.extensions import db
from webapp.linking.backchannel import BackChannelSession, DeadlineExceeded, ResponseTooLarge
from webapp.models import LearningIdentity, LinkAttempt, LinkedAccount

DEADLINE = 1  # seconds (OIDC_HTTP_TIMEOUT); each test waits for it at least once
MARGIN = 2.0  # seconds past the deadline a busy machine may need to answer the browser


@pytest.fixture
def stub_app(stub_app_with):
    return stub_app_with(OIDC_HTTP_TIMEOUT=DEADLINE)


@pytest.fixture(scope="module")
def bad():
    server = MisbehavingServer()
    yield server
    server.close()


def _flow(browser: Browser):
    page = browser.open("/profile")
    started = time.monotonic()
    page = browser.submit(page, page.form_with(action_contains="/link/learn/start"))
    return page, time.monotonic() - started


def _closed_with(app, check: str) -> None:
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LinkedAccount)) == 0
        assert db.session.scalar(select(func.count()).select_from(LearningIdentity)) == 0
        attempt = db.session.scalars(select(LinkAttempt).order_by(LinkAttempt.id.desc())).first()
        assert attempt.outcome == "failed" and attempt.finished_at is not None
        outcome = next(s for s in attempt.steps if s["step"] == "outcome")
        assert outcome["detail"]["check"] == check and outcome["detail"].get("transient", True)


# (endpoint in the discovery document, misbehaviour, the check, words of the message)
DRIP_CASES = [
    ("token_endpoint", "drip-head", "token_timeout", "token endpoint did not answer within 1 second."),
    ("token_endpoint", "drip-body", "token_timeout", "token endpoint did not answer within 1 second."),
    ("jwks_uri", "drip-body", "jwks_timeout", "did not answer in time (jwks, 1 second)"),
    ("userinfo_endpoint", "drip-head", "userinfo_timeout", "did not answer in time (userinfo, 1 second)"),
]


@pytest.mark.parametrize("endpoint, mode, check, message", DRIP_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in DRIP_CASES])
def test_a_drip_fed_answer_ends_the_flow_at_the_deadline(stub_app, stub_browser, stub, bad,
                                                          endpoint, mode, check, message):
    deadline = stub_app.config["OIDC_HTTP_TIMEOUT"]
    stub.script.discovery = {endpoint: f"{bad.url}/{mode}/{endpoint}"}
    page, elapsed = _flow(stub_browser)
    assert elapsed < deadline + MARGIN, elapsed
    assert message in page.text and "Nothing was linked" in page.text, page.text[-3000:]
    _closed_with(stub_app, check)


HUGE_CASES = [
    ("token_endpoint", "huge", "token_too_large"),
    ("token_endpoint", "huge-declared", "token_too_large"),
    ("jwks_uri", "huge", "jwks_too_large"),
    ("userinfo_endpoint", "huge", "userinfo_too_large"),
]


@pytest.mark.parametrize("endpoint, mode, check", HUGE_CASES, ids=[f"{c[0]}-{c[1]}" for c in HUGE_CASES])
def test_a_huge_answer_is_cut_off_at_the_size_cap(stub_app, stub_browser, stub, bad, endpoint, mode, check):
    cap = stub_app.config["OIDC_HTTP_MAX_BYTES"]
    stub.script.discovery = {endpoint: f"{bad.url}/{mode}/{endpoint}"}
    tracemalloc.start()
    try:
        page, elapsed = _flow(stub_browser)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    what = endpoint.split("_")[0]
    assert f"sent an answer too large ({what}, over {cap // 1024} KiB)" in page.text, page.text[-3000:]
    _closed_with(stub_app, check)
    # The worker read about the cap, not the 400 MB the provider offered.
    assert peak < 32 * 1024 * 1024, peak
    assert bad.sent[mode] < 100 * 1024 * 1024, bad.sent[mode]
    assert elapsed < stub_app.config["OIDC_HTTP_TIMEOUT"] + MARGIN, elapsed


def test_discovery_has_the_same_limits(stub_app_with, bad):
    app = stub_app_with(OIDC_HTTP_TIMEOUT=DEADLINE,
                        LEARN_OIDC_DISCOVERY_URL=f"{bad.url}/drip-body/discovery")
    browser = Browser(app.test_client())
    sign_in(browser, "alex@contoso.com")
    page, elapsed = _flow(browser)
    assert elapsed < DEADLINE + MARGIN, elapsed
    assert "did not answer in time (discovery, 1 second)" in page.text
    _closed_with(app, "discovery_timeout")

    app.extensions["learnlink_oauth"].create_client("learn")._server_metadata_url = f"{bad.url}/huge/d"
    page, elapsed = _flow(browser)
    assert "sent an answer too large (discovery, over 1024 KiB)" in page.text
    _closed_with(app, "discovery_too_large")


def test_the_transcript_refresh_uses_the_same_limits(stub_app, stub, bad):
    """The refresh's client_credentials token and transcript calls go through the same session."""
    stub.script.discovery = {"token_endpoint": f"{bad.url}/drip-head/token"}
    link = SimpleNamespace(id=1, provider="learn", subject="stub-subject-0001")
    with stub_app.test_request_context():
        started = time.monotonic()
        with pytest.raises(refresh.RefreshError) as refused:
            refresh.fetch_transcripts([link])
        assert time.monotonic() - started < DEADLINE + MARGIN
        assert "did not answer in time (transcript, 1 second)" in refused.value.message
        stub.script.discovery = {"token_endpoint": f"{bad.url}/huge/token"}
        stub_app.extensions["learnlink_oauth"].create_client("learn").server_metadata = {}  # cached
        with pytest.raises(refresh.RefreshError) as refused:
            refresh.fetch_transcripts([link])
        assert "sent an answer too large (transcript, over 1024 KiB)" in refused.value.message


def test_the_session_alone(stub_app, stub, bad):
    with stub_app.app_context():
        with BackChannelSession() as http:
            assert http.get(f"{stub.url}/.well-known/openid-configuration",
                            withhold_token=True).json()["issuer"] == stub.url
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                http.get(f"{bad.url}/drip-body/x", withhold_token=True)
            assert time.monotonic() - started < DEADLINE + 0.5
            with pytest.raises(ResponseTooLarge):
                http.get(f"{bad.url}/huge/x", withhold_token=True)
        stub_app.config["OIDC_HTTP_MAX_BYTES"] = 10
        with BackChannelSession() as http, pytest.raises(ResponseTooLarge):
            http.get(f"{stub.url}/.well-known/openid-configuration", withhold_token=True)
