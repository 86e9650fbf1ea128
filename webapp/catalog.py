"""The request's message catalog, looked up once.

Flask-Babel resolves the domain, the locale and the catalog again on every gettext call
(several context lookups and a Locale-to-string each time), and a page makes dozens of calls.
The catalog is the same for the whole request, so it is looked up once and kept on ``g``.
"""
from __future__ import annotations

import flask_babel
from flask import g, has_app_context


def page_translations():
    translations = g.get("_page_translations")
    if translations is None:
        translations = g._page_translations = flask_babel.get_translations()
    return translations


def page_locale():
    """The request's babel Locale (Flask-Babel's, looked up once)."""
    locale = g.get("_page_locale")
    if locale is None:
        locale = g._page_locale = flask_babel.get_locale()
    return locale


def gettext(string: str, **variables) -> str:
    """flask_babel.gettext (same catalog, same %-formatting), minus the per-call lookups."""
    if not has_app_context():
        return flask_babel.gettext(string, **variables)
    text = page_translations().ugettext(string)
    return text % variables if variables else text
