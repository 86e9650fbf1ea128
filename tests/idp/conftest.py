"""Fixtures of the provider tests: both demo providers on a port of their own per module."""
from __future__ import annotations

import pytest

from tests.fixtures.idp_helpers import LiveServer, RelyingParty, make_config


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Both demo providers on a loopback port, for one test module."""
    from idp_mock import create_app
    from idp_mock.demo import seed_demo

    app = create_app(make_config(tmp_path_factory.mktemp("idp") / "idp.sqlite"))
    with app.app_context():
        seed_demo()
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def learn(live):
    return RelyingParty(live.url, "learn")


@pytest.fixture(scope="module")
def pu(live):
    return RelyingParty(live.url, "partner-university")
