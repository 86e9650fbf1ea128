"""Fixtures of the real-browser tests: fresh servers per viewport, Chromium, a page per test."""
from __future__ import annotations

import pytest

from tests.fixtures.real_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, VIEWPORTS, Shots
from tests.fixtures.servers import FAST_HASH, LiveServer, free_port, webapp_clients, webapp_config


@pytest.fixture(scope="module", params=list(VIEWPORTS))
def stack(request, tmp_path_factory):
    """Fresh providers and webapp (with demo data) for one viewport's run of the flows."""
    import idp_mock
    from idp_mock.demo import seed_demo as seed_providers
    from webapp import create_app
    from webapp.demo.seed import seed_demo as seed_webapp
    from webapp.extensions import db

    tmp = tmp_path_factory.mktemp(f"browser-{request.param}")
    web_port, idp_port = free_port(), free_port()
    web_url, idp_url = f"http://127.0.0.1:{web_port}", f"http://localhost:{idp_port}"
    providers = idp_mock.create_app({
        "TESTING": True, "CREATE_TABLES_WITHOUT_MIGRATIONS": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'idp.sqlite'}",
        "IDP_PUBLIC_URL": idp_url, "WEBAPP_URL": web_url,
        "IDP_CLIENTS": webapp_clients(web_url), "IDP_PASSWORD_HASH": FAST_HASH,
    })
    with providers.app_context():
        seed_providers()
    webapp = create_app({**webapp_config(idp_url, f"sqlite:///{tmp / 'webapp.sqlite'}"),
                         "TESTING": False, "IDP_PUBLIC_URL": idp_url})
    with webapp.app_context():
        seed_webapp()
        db.session.remove()
    servers = [LiveServer(providers, idp_port).start(), LiveServer(webapp, web_port).start()]
    yield {"viewport": request.param, "web_url": web_url, "idp_url": idp_url, "webapp": webapp}
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (bash scripts/test.sh installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(stack, chromium, request):
    context = chromium.new_context(viewport=VIEWPORTS[stack["viewport"]], locale="en-US",
                                   accept_downloads=True, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.shots = Shots(page, stack["viewport"], request.node.originalname)
    yield page
    context.close()
