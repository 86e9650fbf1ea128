"""A pytest plugin: both mock providers on a free 127.0.0.1 port, and their QA control API.

In a ``conftest.py`` (or a test module) of your suite::

    pytest_plugins = ["idp_mock.pytest_plugin"]

Fixtures (docs/testing.md, "The providers in your own tests"):

- ``mock_providers`` (session): an :class:`idp_mock.serve.Providers` started in a thread of the
  test process, with a throwaway database and the demo accounts; ``.url``,
  ``.issuer_url(issuer)``, ``.discovery_url(issuer)``.
- ``providers_control``: an :class:`idp_mock.testing.ControlClient`; the scenarios a test arms
  are cleared after it.
- ``mock_providers_config`` (session): override it to pass configuration to the providers
  (e.g. ``{"IDP_CLIENTS": [...]}``).
"""

from __future__ import annotations

import pytest

from .serve import ISSUER_SLUGS
from .serve import Providers

# Demo and QA accounts are test data: a cheap password hash keeps the start under a second.
TEST_PASSWORD_HASH = "pbkdf2:sha256:1000"


@pytest.fixture(scope="session")
def mock_providers_config() -> dict:
    return {}


@pytest.fixture(scope="session")
def mock_providers(mock_providers_config):
    providers = Providers(0, config={"IDP_PASSWORD_HASH": TEST_PASSWORD_HASH,
                                     **mock_providers_config})
    providers.start()
    yield providers
    providers.stop()


@pytest.fixture
def providers_control(mock_providers):
    control = mock_providers.control()
    yield control
    for issuer in ISSUER_SLUGS:
        control.clear(issuer)
