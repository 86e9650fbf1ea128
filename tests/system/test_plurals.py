"""Counts shown to people use ngettext, with each language's plural rules.

Every message of both apps that shows a count is walked: it must be a plural message
(``ngettext``), translated with as many forms as the language has, unless it is listed below
with the reason it needs none.
"""
from __future__ import annotations

import re

import pytest
from flask_babel import force_locale

from tests.fixtures.browser import Browser
from tests.fixtures.catalogs import TRANSLATED_LANGUAGES, load_catalog, where

pytestmark = pytest.mark.database_neutral

# Placeholder names that hold a count, and any %(name)d.
COUNT_NAMES = {"count", "num", "n", "days", "added", "updated", "removed", "users", "total", "shown",
               "hits", "seconds", "pages", "minutes", "hours", "entries", "links"}
PLACEHOLDER = re.compile(r"%\((\w+)\)([sd])")
# Messages with a number that need no plural form, and why.
NO_PLURAL_NEEDED = {
    "Page %(page)d of %(pages)d": "a page number and a total, no counted noun",
    "%(added)s, %(updated)s, %(removed)s": "joins three counts, each already a plural message",
    "The %(days)s-day cool-off refuses a second association": "a compound adjective (30-day)",
    "Associations are limited per individual: %(days)s days between two, three a year.":
        "the rule's fixed 30 days",
    "Every move counts as an association: the profile shows the next available date, %(days)s days "
    "after the move.": "the rule's fixed 30 days",
    "Sign in as %(user)s: %(account)s is linked (the demo data linked it %(days)s days ago), and the "
    "profile shows the next available association date.": "the demo data's fixed 10 days",
    "Sign in as %(user)s: MCID %(mcid)s is linked at %(old)s (the demo data linked it %(days)s days "
    "ago).": "the demo data's fixed 40 days",
}


def counted(message_id: str) -> list[str]:
    return [name for name, conv in PLACEHOLDER.findall(message_id) if conv == "d" or name in COUNT_NAMES]


def test_every_message_with_a_count_is_a_plural_message(extracted):
    singular_with_count = []
    for message in extracted:
        if not message.id or not isinstance(message.id, str):
            continue
        if counted(message.id) and message.id not in NO_PLURAL_NEEDED:
            singular_with_count.append(f"{message.id!r} ({where(message)})")
    assert not singular_with_count, (
        "use ngettext for these messages (or list them in NO_PLURAL_NEEDED with a reason):\n"
        + "\n".join(singular_with_count))
    plural_ids = {m.id[0] for m in extracted if m.id and not isinstance(m.id, str)}
    assert len(plural_ids) >= 15
    ids = {m.id for m in extracted if isinstance(m.id, str)}
    assert set(NO_PLURAL_NEEDED) <= ids, set(NO_PLURAL_NEEDED) - ids  # no stale exception


@pytest.mark.parametrize("lang", TRANSLATED_LANGUAGES)
def test_plural_messages_have_every_form_of_the_language(extracted, lang):
    catalog = load_catalog(lang)
    forms = {"fr": 2, "zh_Hant_TW": 1}[lang]
    assert catalog.num_plurals == forms
    problems = []
    for message in extracted:
        if not message.id or isinstance(message.id, str):
            continue
        translated = catalog.get(message.id)
        strings = list(translated.string) if translated is not None else []
        if len(strings) != forms or not all(strings):
            problems.append(f"{message.id[0]!r}: {strings!r} ({where(message)})")
    assert not problems, "\n".join(problems)


def test_a_count_of_one_is_singular_in_english_and_french(app):
    from webapp.reports.refresh import summary

    with app.test_request_context():
        with force_locale("en"):
            assert summary(1, 1, 1, 1) == "Data refreshed from 1 linked account: 1 added, 1 updated, 1 removed."
            assert summary(2, 2, 2, 2) == "Data refreshed from 2 linked accounts: 2 added, 2 updated, 2 removed."
            assert summary(1, 0, 0, 0) == "Data refreshed from 1 linked account: no changes."
        with force_locale("fr"):
            assert summary(1, 1, 1, 1) == ("Données actualisées depuis 1 compte lié\u00a0: 1 ajouté, 1 mis à jour, "
                                           "1 retiré.")
            assert summary(2, 2, 2, 2) == ("Données actualisées depuis 2 comptes liés\u00a0: 2 ajoutés, "
                                           "2 mis à jour, 2 retirés.")
        with force_locale("zh_Hant_TW"):
            assert summary(1, 1, 1, 1) == "已從 1 個已連結帳戶重新整理資料：新增 1 筆、更新 1 筆、移除 1 筆。"


def test_skills_report_counts_one_linked_user(app, browser):
    from tests.fixtures.flows import link_account, sign_in

    sign_in(browser, "pat@contoso.com")
    link_account(browser, "partner-university", "pat.pu@outlook.com")
    admin = Browser(app.test_client())
    sign_in(admin, "gloria.global@contoso.com")
    page = admin.open("/reports/skills")
    assert "1 linked user." in page.text and "1 linked users" not in page.text
