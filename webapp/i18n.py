"""Partner Center's page language: the shared setup (common.languages), the switcher (a POST
saved on the work user) and ``?lang=`` links for the session.

Order of precedence: ``?lang=`` on the request, the session (set by the switcher, or at sign-in
from the user's saved preference), the signed-in user's ``preferred_language``, then the
browser's Accept-Language.
"""
from __future__ import annotations

from flask import Flask, session, url_for
from flask_login import current_user

from common.languages import (SESSION_KEY, init_languages, remember_requested_language,
                              this_page)
from common.languages import select_locale as select_shared_locale
from common.languages import supported_locale as supported_language  # noqa: F401  (main.routes)

from .models import LANGUAGES
from .users import set_preferred_language

# Set when the language was picked with the switcher while signed out: signing in then saves it
# as the user's preference; a language merely kept from an earlier session does not.
CHOSEN_SIGNED_OUT_KEY = "lang_chosen"


def saved_preference() -> str | None:
    if current_user and current_user.is_authenticated:
        return current_user.preferred_language
    return None


def select_locale() -> str | None:
    return select_shared_locale(saved_preference)


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


def init_i18n(app: Flask) -> None:
    init_languages(app, select_locale)
    # A ?lang= link changes this session's pages only: a GET never saves anything (a
    # cross-site link or image could otherwise change a user's saved preference).
    app.before_request(remember_requested_language)

    @app.context_processor
    def inject_language_form():
        # Partner Center's switcher is a CSRF-protected POST form (the providers keep links).
        return {"language_form_url": url_for("profile.set_language"),
                "language_return_to": this_page}
