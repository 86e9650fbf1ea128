"""Fixtures of the system tests."""
from __future__ import annotations

import pytest

from tests.fixtures.catalogs import extract_messages


@pytest.fixture(scope="session")
def extracted(tmp_path_factory):
    """Every msgid of the code and templates (read once per test process)."""
    return extract_messages(tmp_path_factory.mktemp("i18n"))
