"""The Content-Security-Policy lets the real flow through in a real browser.

Chromium applies ``form-action`` to the redirects that follow a form submission: "Associate"
posts to the webapp, which redirects to the provider; the provider's consent form posts to
/authorize, which redirects back to the webapp. Both servers run on loopback ports; the test
fails on any CSP violation reported by the browser.
"""
from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.real_browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def live_pair(tmp_path):
    import idp_mock
    from idp_mock.demo import seed_demo as seed_providers
    from tests.fixtures.servers import FAST_HASH, LiveServer, free_port, webapp_clients, webapp_config
    from webapp import create_app
    from webapp.demo.seed import seed_demo
    from webapp.extensions import db

    idp_port, web_port = free_port(), free_port()
    web_origin = f"http://127.0.0.1:{web_port}"
    provider = idp_mock.create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'idp.sqlite'}",
        "CREATE_TABLES_WITHOUT_MIGRATIONS": True, "IDP_PUBLIC_URL": f"http://127.0.0.1:{idp_port}",
        "WEBAPP_URL": web_origin, "IDP_CLIENTS": webapp_clients(web_origin), "IDP_PASSWORD_HASH": FAST_HASH,
    })
    with provider.app_context():
        seed_providers()
    idp_server = LiveServer(provider, idp_port).start()
    webapp = create_app(webapp_config(idp_server.url, f"sqlite:///{tmp_path / 'webapp.sqlite'}"))
    with webapp.app_context():
        seed_demo(with_links=False)
    web_server = LiveServer(webapp, web_port).start()
    yield web_server, idp_server
    web_server.stop()
    idp_server.stop()
    with webapp.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_link_flow_in_chromium_reports_no_csp_violation(live_pair):
    sync_api = pytest.importorskip("playwright.sync_api")
    web, idp = live_pair
    violations: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(10_000)  # a blocked redirect shows as a wait that never ends
            page.on("console", lambda msg: violations.append(msg.text)
                    if "Content Security Policy" in msg.text else None)
            page.goto(f"{web.url}/login")
            page.fill("input[name=email]", "alex@contoso.com")
            page.fill("input[name=password]", "Passw0rd!")
            page.click("form button[type=submit].primary")
            page.wait_for_url(f"{web.url}/profile")
            page.click("form[action*='/link/learn/start'] button[type=submit]")
            page.wait_for_url(f"{idp.url}/learn/authorize*")  # form-action allowed the redirect
            page.fill("input[name=email]", "alex.learner@outlook.com")
            page.fill("input[name=password]", "Passw0rd!")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(f"{web.url}/profile")  # and the redirect back to the callback
            assert "is now linked" in page.content()
        finally:
            browser.close()
    assert violations == []
