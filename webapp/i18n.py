"""Partner Center's page language: the shared setup (common.languages) plus the work user's
saved preference.

Order of precedence: ``?lang=`` on the request, the session (set by the switcher, or at sign-in
from the user's saved preference), the signed-in user's ``preferred_language``, then the
browser's Accept-Language.
"""
from __future__ import annotations

from flask import Flask, request, session
from flask_login import current_user

from common.languages import SESSION_KEY, init_languages, supported_locale
from common.languages import select_locale as select_shared_locale

from . import services
from .models import LANGUAGES

# Set when the language was picked with the switcher while signed out: signing in then saves it
# as the user's preference; a language merely kept from an earlier session does not.
CHOSEN_SIGNED_OUT_KEY = "lang_chosen"


def saved_preference() -> str | None:
    if current_user and current_user.is_authenticated:
        return current_user.preferred_language
    return None


def select_locale() -> str | None:
    return select_shared_locale(saved_preference)


def remember_requested_language() -> None:
    """A ``?lang=`` choice is kept in the session and, when signed in, on the work user."""
    lang = supported_locale(request.args.get("lang"))
    if lang is None:
        return
    session[SESSION_KEY] = lang
    if current_user.is_authenticated:
        services.set_preferred_language(current_user, lang)
    else:
        session[CHOSEN_SIGNED_OUT_KEY] = True


def language_before_sign_in() -> tuple[str | None, bool]:
    """What the signed-out session knows about the language, read before the session is cleared."""
    return session.get(SESSION_KEY), bool(session.get(CHOSEN_SIGNED_OUT_KEY))


def language_after_sign_in(user, kept: tuple[str | None, bool]) -> None:
    """An explicit choice made before signing in becomes the preference; else the preference applies."""
    lang, chosen = kept
    if chosen and lang in LANGUAGES:
        services.set_preferred_language(user, lang)
    elif user.preferred_language in LANGUAGES:
        lang = user.preferred_language
    if lang in LANGUAGES:
        session[SESSION_KEY] = lang


def language_after_sign_out(lang: str | None) -> None:
    """The signed-out pages keep the language; the next person to sign in gets their own."""
    if lang in LANGUAGES:
        session[SESSION_KEY] = lang


def init_i18n(app: Flask) -> None:
    init_languages(app, select_locale)
    app.before_request(remember_requested_language)
