"""Every message of both apps is translated to French and Traditional Chinese, and no text of a
template or flash message escapes gettext (the pages themselves: test_pages_in_each_language.py).

The messages are extracted afresh from the code and templates (Babel's extractor, as
scripts/i18n.sh does), so a new string fails here until it is translated, even when the
committed messages.pot was not regenerated.
"""
from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest

from tests.fixtures.catalogs import TRANSLATED_LANGUAGES, load_catalog, where

# The messages and their rendering do not depend on the database engine: checked on SQLite only.
pytestmark = pytest.mark.database_neutral

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([sdifr%])")


# --------------------------------------------------------------------------- catalogs

def placeholders(text: str) -> list[str]:
    return sorted(name or conv for name, conv in PLACEHOLDER.findall(text) if conv != "%")


def test_extraction_finds_the_messages_of_both_apps(extracted):
    ids = {m.id for m in extracted if m.id}
    # One message from each kind of source, so a broken babel.cfg cannot pass as "all translated".
    assert "Remove access" in ids  # webapp template and form
    assert "Work email" in ids  # lazy_gettext in a webapp form
    assert any(isinstance(i, str) and i.startswith("You've attempted to associate") for i in ids)  # services.py (plural ids are tuples)
    assert "Permissions requested" in ids  # provider template
    assert "Passwords must match." in ids  # provider form
    assert len(ids) > 150


@pytest.mark.parametrize("lang", TRANSLATED_LANGUAGES)
def test_every_message_is_translated(extracted, lang):
    catalog = load_catalog(lang)
    problems = []
    for message in extracted:
        if not message.id:
            continue
        translated = catalog.get(message.id, context=message.context)
        key = message.id if isinstance(message.id, str) else message.id[0]
        strings = [] if translated is None else (
            [translated.string] if isinstance(translated.string, str) else list(translated.string))
        if not strings or not all(s and s.strip() for s in strings):
            problems.append(f"untranslated: {key!r} ({where(message)})")
        elif translated.fuzzy:
            problems.append(f"fuzzy: {key!r} ({where(message)})")
        else:
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            expected = placeholders(ids[-1])
            for s in strings:
                if placeholders(s) != expected:
                    problems.append(f"placeholders {placeholders(s)} instead of {expected}: "
                                    f"{key!r} -> {s!r} ({where(message)})")
    assert not problems, f"{len(problems)} problem(s) in the {lang} catalog " \
                         f"(run scripts/i18n.sh, then translate):\n" + "\n".join(problems)


def test_placeholder_check_sees_renamed_and_missing_placeholders():
    assert placeholders("Next date: %(date)s") == ["date"]
    assert placeholders("Prochaine date : %(jour)s") != placeholders("Next date: %(date)s")
    assert placeholders("Vous avez tenté. 100 %% sûr") != placeholders("%(date)s")
    assert placeholders("%(provider)s account %(email)s") == placeholders("%(email)s — %(provider)s")


# --------------------------------------------------------------------------- text outside gettext

def test_flashed_messages_go_through_gettext():
    """flash() with a literal string would show English in every language."""
    literal = []
    for path in [*REPO.glob("webapp/**/*.py"), *REPO.glob("idp_mock/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and (
                    getattr(node.func, "id", None) == "flash" or getattr(node.func, "attr", None) == "flash"):
                first = node.args[0]
                if isinstance(first, (ast.Constant, ast.JoinedStr)) or (
                        isinstance(first, ast.BinOp) and isinstance(first.left, (ast.Constant, ast.JoinedStr))):
                    literal.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not literal, "flash() with untranslated text: " + ", ".join(literal)


# Text that is the same in every language (names, not words).
SAME_IN_EVERY_LANGUAGE = {"LearnLink", "MCID", "Microsoft Learn", "OpenID Connect", "OIDC"}
SKIPPED_ELEMENTS = {"script", "style", "code", "pre", "kbd", "samp"}
CHECKED_ATTRIBUTES = {"title", "alt", "aria-label", "placeholder", "aria-description"}
JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.S)


def untranslated_template_text(source: str) -> list[str]:
    """Words in a template's static HTML (text and labelling attributes) outside {{ _() }}.

    Elements marked ``translate="no"`` (HTML's own marker) and code samples are skipped.
    """
    from html.parser import HTMLParser

    found: list[str] = []

    def check(text: str) -> None:
        text = html.unescape(text.replace("\x00", " ")).strip()
        words = text
        for name in SAME_IN_EVERY_LANGUAGE:
            words = words.replace(name, " ")
        if re.search(r"[^\W\d_]{2,}", words):
            found.append(text)

    class Parser(HTMLParser):
        skipping: list[str] = []

        def handle_starttag(self, tag, attrs):
            if self.skipping or tag in SKIPPED_ELEMENTS or ("translate", "no") in attrs:
                if tag not in ("br", "img", "input", "meta", "link", "hr", "source", "wbr"):
                    self.skipping.append(tag)
                return
            for name, value in attrs:
                if value and (name in CHECKED_ATTRIBUTES or (
                        name == "value" and ("type", "submit") in attrs)):
                    check(value)

        def handle_endtag(self, tag):
            if self.skipping and self.skipping[-1] == tag:
                self.skipping.pop()

        def handle_data(self, data):
            if not self.skipping:
                check(data)

    parser = Parser()
    parser.skipping = []
    parser.feed(JINJA.sub("\x00", source))
    parser.close()
    return found


def test_template_text_check_finds_bare_words():
    assert untranslated_template_text("<p>{{ _('Hello') }}</p><p>Goodbye</p>") == ["Goodbye"]
    assert untranslated_template_text('<a aria-label="Main" href="{{ x }}">{{ y }}</a>') == ["Main"]
    assert untranslated_template_text("<code>flask run</code><span translate=\"no\">AZ-104</span>") == []
    assert untranslated_template_text("<footer>LearnLink · {{ _('A') }}</footer> — 42") == []


def test_templates_have_no_untranslated_text():
    problems = []
    for path in sorted(REPO.glob("templates/**/*.html")):
        for text in untranslated_template_text(path.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(REPO)}: {text!r}")
    assert not problems, "Template text outside {{ _('…') }} (wrap it, or mark names translate=\"no\"):\n" \
                         + "\n".join(problems)
