"""Ids in URLs: one past the largest row id the databases store is a 404, never a 500.

The id columns are INTEGER: 32-bit on PostgreSQL, 64-bit on SQLite; the bound is the smaller.
"""
from __future__ import annotations

import pytest

from tests.flows import sign_in
from common.request_hardening import MAX_ROW_ID

HUGE = [str(MAX_ROW_ID + 1), str(2**63), str(2**64), str(10**30), "9" * 5000]


@pytest.mark.parametrize("value", HUGE, ids=["2^31", "2^63", "2^64", "10^30", "5000-digits"])
def test_ids_past_the_database_range_are_404(browser, value):
    sign_in(browser, "gloria.global@contoso.com")
    for path in (f"/traces/{value}", f"/traces/{value}.json", f"/admin/users/{value}/delete"):
        assert browser.client.get(path).status_code == 404, path
    assert browser.client.post(f"/admin/users/{value}/delete").status_code in (400, 404)


def test_the_largest_row_id_is_still_routed(browser):
    sign_in(browser, "gloria.global@contoso.com")
    for path in (f"/traces/{MAX_ROW_ID}", f"/traces/{MAX_ROW_ID}.json", f"/admin/users/{MAX_ROW_ID}/delete"):
        assert browser.client.get(path).status_code == 404, path


def test_every_int_rule_uses_the_bounded_converter(app):
    from common.request_hardening import RowIdConverter

    int_rules = [(rule.rule, arg) for rule in app.url_map.iter_rules()
                 for arg, converter in (rule._converters or {}).items() if "int" in rule.rule]
    assert int_rules
    for rule in app.url_map.iter_rules():
        for arg, converter in rule._converters.items():
            if f"<int:{arg}>" in rule.rule:
                assert isinstance(converter, RowIdConverter), rule.rule
                assert converter.max <= MAX_ROW_ID
