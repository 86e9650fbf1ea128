"""Page language: the switcher (a POST saved on the work user), ``?lang=`` links for the session.

Order of precedence: ``?lang=`` on the request, the session (set by the switcher, or at sign-in
from the user's saved preference), the signed-in user's ``preferred_language``, then the
browser's Accept-Language.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, has_request_context, request, session, url_for
from flask_babel import get_locale
from flask_login import current_user

from page_catalog import WTFORMS_MESSAGES, install_jinja_gettext

from .models import LANGUAGES
from .users import set_preferred_language

SESSION_KEY = "lang"
# Set when the language was picked with the switcher while signed out: signing in then saves it
# as the user's preference; a language merely kept from an earlier session does not.
CHOSEN_SIGNED_OUT_KEY = "lang_chosen"

_ALIASES = {
    "en": "en", "fr": "fr",
    "zh_hant_tw": "zh_Hant_TW", "zh-hant-tw": "zh_Hant_TW", "zh_tw": "zh_Hant_TW",
    "zh-tw": "zh_Hant_TW", "zh-hant": "zh_Hant_TW", "zh_hant": "zh_Hant_TW",
}


def supported_language(value: str | None) -> str | None:
    """The supported language code for ``value`` (``fr``, ``zh-TW``, ``zh_Hant_TW``...), else None."""
    return _ALIASES.get((value or "").strip().lower())


def html_lang(code: str) -> str:
    """BCP 47 tag for <html lang>: zh_Hant_TW -> zh-Hant-TW."""
    return code.replace("_", "-")


def select_locale() -> str | None:
    if not has_request_context():
        return None  # CLI commands: the default locale (English)
    chosen = supported_language(request.args.get("lang")) or session.get(SESSION_KEY)
    if chosen in LANGUAGES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.preferred_language in LANGUAGES:
        return current_user.preferred_language
    best = request.accept_languages.best_match(["en", "fr", "zh-TW", "zh-Hant", "zh"])
    if best and best.startswith("zh"):
        return "zh_Hant_TW"  # the seeds' Chinese is Traditional (Taiwan)
    return best or "en"


def remember_requested_language() -> None:
    """A ``?lang=`` link changes this session's pages only: a GET never saves anything (a
    cross-site link or image could otherwise change a user's saved preference)."""
    lang = supported_language(request.args.get("lang"))
    if lang is not None:
        session[SESSION_KEY] = lang


def choose_language(lang: str) -> None:
    """The switcher's POST: the session's language and, signed in, the user's saved preference
    (signed out, it becomes the preference at the next sign-in)."""
    session[SESSION_KEY] = lang
    if current_user.is_authenticated:
        set_preferred_language(current_user, lang)
    else:
        session[CHOSEN_SIGNED_OUT_KEY] = True


def language_before_sign_in() -> tuple[str | None, bool]:
    """What the signed-out session knows about the language, read before the session is cleared."""
    return session.get(SESSION_KEY), bool(session.get(CHOSEN_SIGNED_OUT_KEY))


def language_after_sign_in(user, kept: tuple[str | None, bool]) -> None:
    """An explicit choice made before signing in becomes the preference; else the preference applies."""
    lang, chosen = kept
    if chosen and lang in LANGUAGES:
        set_preferred_language(user, lang)
    elif user.preferred_language in LANGUAGES:
        lang = user.preferred_language
    if lang in LANGUAGES:
        session[SESSION_KEY] = lang


def language_after_sign_out(lang: str | None) -> None:
    """The signed-out pages keep the language; the next person to sign in gets their own."""
    if lang in LANGUAGES:
        session[SESSION_KEY] = lang


def wtforms_messages() -> None:
    """WTForms' own messages (e.g. "This field is required.") in the page language, each catalog
    read once per process: Flask-WTF would read it from disk on every request that shows one,
    and for zh_Hant_TW fall back to WTForms' Simplified "zh" (its Traditional one is zh_TW)."""
    request.wtforms_translations = WTFORMS_MESSAGES


def switch_url(code: str) -> str:
    """This page's URL with ``lang`` set to ``code`` (other query parameters kept)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return f"{request.path}?{urlencode(args + [('lang', code)])}"


def this_page() -> str:
    """This page's path and query without ``lang``: where the switcher's POST returns."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return f"{request.path}?{urlencode(args)}" if args else request.path


def init_i18n(app: Flask) -> None:
    app.before_request(remember_requested_language)
    app.before_request(wtforms_messages)
    install_jinja_gettext(app)  # the templates' gettext reads the request's catalog once

    @app.context_processor
    def inject_languages():
        current = str(get_locale() or "en")
        return {
            "current_language": current,
            "html_lang": html_lang(current),
            "languages": LANGUAGES,
            "language_switch_url": switch_url,
            # Partner Center's switcher is a CSRF-protected POST form (the providers keep links).
            "language_form_url": url_for("profile.set_language"),
            "language_return_to": this_page,
        }
