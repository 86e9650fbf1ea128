"""Page parts that are the same on every page of one language (and issuer): rendered once.

The providers' sign-in and consent pages carry forms whose fields never change for a given
language when they are shown empty (no data, no errors); WTForms builds every field's
attributes again on each page, which cost more than the rest of the page.
"""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup

MAX_KEPT = 64  # a few templates x issuers x languages; a bound all the same
_kept: dict[tuple, Markup] = {}


def rendered_once(key: tuple, render: Callable[[], str]) -> Markup:
    """``render()``'s markup, kept per process under ``key`` (everything the markup depends on)."""
    markup = _kept.get(key)
    if markup is None:
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        markup = _kept[key] = Markup(render())
    return markup
