"""The request's message catalog and Locale, looked up once; shared by both apps.

Flask-Babel resolves the domain, the locale and the catalog again on every gettext call
(several context lookups and a Locale-to-string each time), and a page makes dozens of calls:
labels, buttons, flash messages, the providers' QA panel. The catalog is the same for the whole
request, so it is looked up once and kept on ``g``. Same catalogs, same %-formatting; ``_`` and
``_l`` keep their names, so ``pybabel extract -k _l`` finds the same messages.

WTForms' own messages (validation errors) come from its catalogs, which Flask-WTF would read
from disk again on every request that shows one: here they are loaded once per process and
language, and only when a message is shown.
"""

from __future__ import annotations

from functools import cache

import flask_babel
from babel.support import NullTranslations
from babel.support import Translations
from flask import g
from flask import has_app_context
from flask_babel import get_locale
from flask_babel.speaklater import LazyString
from markupsafe import Markup
from wtforms.i18n import messages_path


def page_translations() -> NullTranslations:
    translations = g.get("_page_translations")
    if translations is None:
        translations = g._page_translations = flask_babel.get_translations()
    return translations


def page_locale():
    """The request's babel Locale (Flask-Babel's, looked up once)."""
    locale = g.get("_page_locale")
    if locale is None:
        locale = g._page_locale = get_locale()
    return locale


def gettext(string: str, **variables) -> str:
    """flask_babel.gettext (same catalog, same %-formatting), minus the per-call lookups."""
    if not has_app_context():
        return flask_babel.gettext(string, **variables)
    text = page_translations().ugettext(string)
    return text % variables if variables else text


def lazy_gettext(string: str, **variables) -> LazyString:
    """flask_babel.lazy_gettext, translated through :func:`gettext` when shown."""
    return LazyString(gettext, string, **variables)


def install_jinja_gettext(app) -> None:
    """Templates' ``_()`` through the request's catalog (replaces Flask-Babel's callables:
    same catalog, same newstyle formatting)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n),
        pgettext=lambda c, s: page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    # A page calls ``_`` dozens of times: called directly instead of through the i18n
    # extension's alias and newstyle wrapper (a context lookup and a formatting each).
    app.jinja_env.globals["_"] = template_gettext


def template_gettext(string: str, **variables) -> Markup:
    """What Jinja's newstyle ``_`` returns in an autoescaped template (every template here is
    HTML): the translation marked safe, %-formatted with its variables, which are escaped.
    A translation without "%" formats to itself, so it is returned as it is."""
    text = Markup(page_translations().ugettext(string))
    return text % variables if variables or "%" in text else text


class WtformsMessages:
    """WTForms' messages in the page's language, for Flask-WTF's ``request.wtforms_translations``.

    The language is resolved when a message is shown (most requests show none)."""

    @staticmethod
    def _catalog() -> NullTranslations:
        return wtforms_catalog(str(get_locale()))

    def ugettext(self, string: str) -> str:
        return self._catalog().ugettext(string)

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        return self._catalog().ungettext(singular, plural, n)


WTFORMS_MESSAGES = WtformsMessages()


@cache
def wtforms_catalog(locale: str) -> NullTranslations:
    # WTForms' Traditional Chinese catalog is zh_TW; a lookup for zh_Hant_TW would fall back
    # to its Simplified "zh".
    return Translations.load(messages_path(), ["zh_TW" if locale == "zh_Hant_TW" else locale],
                             domain="wtforms")
