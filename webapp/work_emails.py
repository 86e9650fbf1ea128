"""One spelling per work email, and no look-alikes of an existing one.

Pure functions (no database, no messages): users.create_work_user turns their verdicts into
the create-user form's messages.
"""
from __future__ import annotations

import unicodedata

from confusable_homoglyphs import confusables

# Characters that show nothing (zero-width space and joiners, word joiner, soft hyphen, BOM,
# bidi controls...): Unicode's "format" and "control" categories.
_INVISIBLE_CATEGORIES = ("Cf", "Cc")


def normalize(email: str | None) -> str:
    """NFKC (full-width and compatibility forms folded), trimmed, lower case."""
    return unicodedata.normalize("NFKC", (email or "").strip()).lower()


def has_invisible_character(email: str) -> bool:
    # Refused rather than silently cleaned: it would be a second account that looks exactly
    # like the first.
    return any(unicodedata.category(c) in _INVISIBLE_CATEGORIES for c in email)


def mixes_scripts(email: str) -> bool:
    """True when the local part or one domain label mixes scripts (e.g. a Cyrillic "о" among
    Latin letters). Different scripts in different parts (алекс@contoso.com) are a real address."""
    local, _at, domain = email.partition("@")
    return any(confusables.is_mixed_script(part) for part in (local, *domain.split(".")))


def skeleton(email: str) -> str:
    """The address with every character that looks like a Latin one replaced by it (Unicode TR39
    confusables): two addresses with the same skeleton look the same on screen."""
    out = []
    for char in email:
        found = False if char.isascii() else confusables.is_confusable(
            char, preferred_aliases=["latin"], greedy=True)
        latin = [h["c"] for f in (found or []) for h in f["homoglyphs"] if h["c"].isascii()]
        out.append(latin[0].lower() if latin else char)
    return "".join(out)
