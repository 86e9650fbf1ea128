"""Partner Center and provider pages in each language: the Partner Center terms, the switcher,
the remembered choice, dates and numbers, form messages, and no English left on any page."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from babel.dates import format_date
from babel.messages.catalog import Catalog
from sqlalchemy import select

from tests.fixtures.browser import Browser
from tests.fixtures.catalogs import TRANSLATED_LANGUAGES, load_catalog
from tests.fixtures.flows import (link_account, provider_consent, provider_sign_in, remove_link, sign_in,
                                  start_link, switch_language)
from webapp.extensions import db
from webapp.models import LinkAttempt, LinkedAccount, WorkUser

# The messages and their rendering do not depend on the database engine: checked on SQLite only.
pytestmark = pytest.mark.database_neutral


# --------------------------------------------------------------------------- pages

def text_of(page) -> str:
    return html.unescape(page.text)


def saved_language(app, email: str) -> str | None:
    with app.app_context():
        return db.session.scalar(select(WorkUser.preferred_language).where(WorkUser.email == email))


def sign_in_in_any_language(browser: Browser, email: str, password: str = "Passw0rd!"):
    page = browser.open("/login")
    return browser.submit(page, next(f for f in page.forms() if "email" in f.fields), {"email": email, "password": password})


def test_profile_in_french_uses_the_partner_center_terms(app, browser):
    sign_in(browser, "pat@contoso.com")
    link_account(browser, "partner-university", "pat.pu@outlook.com")
    page = browser.open("/profile?lang=fr")
    text = text_of(page)
    assert '<html lang="fr">' in page.text
    assert "Supprimer l'accès" in text  # the linked Partner University account
    assert "Votre apprentissage" in text and "Examens et certifications Microsoft" in text
    assert "Associer un compte Microsoft Learning" in text
    assert "Espace partenaires" in text and "Mon profil Learn" in text
    assert "Remove access" not in text and "Your Learning" not in text
    # The link date is formatted the French way (e.g. "21 nov. 2026, 11:07:09").
    with app.app_context():
        link = db.session.scalar(select(LinkedAccount))
    assert format_date(link.linked_at, format="medium", locale="fr") in text


def test_profile_in_french_before_linking_offers_partner_university_access(browser):
    sign_in(browser, "alex@contoso.com")
    text = text_of(browser.open("/profile?lang=fr"))
    assert "Obtenir l'accès à l'Université partenaire" in text
    assert "Vous pouvez commencer une nouvelle association dès maintenant." in text


def test_profile_in_traditional_chinese(browser):
    sign_in(browser, "pat@contoso.com")
    link_account(browser, "partner-university", "pat.pu@outlook.com")
    page = browser.open("/profile?lang=zh_Hant_TW")
    text = text_of(page)
    assert '<html lang="zh-Hant-TW">' in page.text
    for label in ("合作夥伴中心", "學習", "移除存取權", "Microsoft 測驗及認證", "關聯 Microsoft Learning 帳戶"):
        assert label in text, label
    assert "Remove access" not in text
    remove_link(browser, "partner-university")
    assert "取得夥伴大學存取" in text_of(browser.open("/profile"))  # remembered in the session


def test_language_switcher_marks_the_current_language_and_keeps_the_page(browser):
    sign_in(browser, "alex@contoso.com")
    page = browser.open("/profile?lang=fr")
    nav = page.text.split('<nav class="lang-switch"', 1)[1].split("</nav>", 1)[0]
    assert 'aria-label="Langue"' in nav
    assert '<form method="post" action="/language">' in nav and 'name="csrf_token"' in nav
    assert '<input type="hidden" name="next" value="/profile">' in nav
    assert 'name="lang" value="en" lang="en">English' in nav
    assert 'name="lang" value="zh_Hant_TW" lang="zh-Hant-TW">中文（台灣）' in nav
    assert 'value="fr" lang="fr" aria-current="true">Français' in nav
    assert "aria-current" not in nav.split("Français", 1)[1]
    page = switch_language(browser, browser.open("/traces?user=x&lang=fr"), "en")
    assert page.url == "http://localhost/traces?user=x" and '<html lang="en">' in page.text


def test_cool_off_refusal_in_french_with_a_french_date(app, browser, idp):
    sign_in(browser, "carl@contoso.com")
    link_account(browser, "learn", "carl.cooloff@outlook.com")
    remove_link(browser, "learn")
    browser.open("/profile?lang=fr")
    # Still signed in at the provider: its consent page opens in French (ui_locales=fr).
    consent = start_link(browser, "learn")
    assert consent.url.startswith(f"{idp.url}/learn/authorize?") and "ui_locales=fr" in consent.url
    assert '<html lang="fr">' in consent.text and "Autorisations demandées" in text_of(consent)
    page = browser.submit(consent, consent.form_with(button="Autoriser"), button="Autoriser")
    assert page.url == "http://localhost/profile"
    with app.app_context():
        first = db.session.scalar(select(LinkedAccount))
        assert db.session.scalar(select(db.func.count()).select_from(LinkedAccount)) == 1
    next_date = first.linked_at.date() + timedelta(days=30)
    french_date = format_date(next_date, format="long", locale="fr")  # e.g. "21 décembre 2026"
    assert not any(month in french_date for month in ("January", "December", "November"))
    expected = ("Vous avez tenté de vous associer à une organisation partenaire. Toutefois, nous exigeons "
                "une période de 30 jours entre chaque association. La prochaine date disponible pour une "
                f"association est {french_date}.")
    assert expected in text_of(page)
    assert f"Prochaine date disponible pour une association\u00a0: {french_date}" in text_of(page)


def test_provider_sign_in_page_in_french_and_its_switcher_keeps_the_flow(app, browser, idp):
    sign_in(browser, "alex@contoso.com")
    browser.open("/profile?lang=fr")
    page = start_link(browser, "learn")
    assert page.url.startswith(f"{idp.url}/learn/authorize?")
    text = text_of(page)
    assert '<html lang="fr">' in page.text
    assert "Se connecter" in text and "Mot de passe" in text and "Pas de compte\u00a0?" in text
    assert "Password" not in text
    # Switching to English at the provider keeps the authorization request.
    english = re.search(r'href="([^"]+)" lang="en"', page.text).group(1)
    page = browser.open(idp.url + html.unescape(english))
    assert '<html lang="en">' in page.text and "state=" in page.url and "lang=en" in page.url
    page = provider_sign_in(browser, page, "alex.learner@outlook.com")
    page = provider_consent(browser, page)
    assert page.url == "http://localhost/profile"
    assert "est désormais lié à votre compte professionnel" in text_of(page)  # Partner Center stays French


def test_provider_remembers_the_language_in_its_session(idp):
    import requests

    with requests.Session() as http:
        fr = http.get(f"{idp.url}/learn/signin?lang=fr", timeout=10)
        assert '<html lang="fr">' in fr.text and "Se connecter" in html.unescape(fr.text)
        # Another page, the other issuer, a browser asking for English: the choice is kept.
        pu = http.get(f"{idp.url}/partner-university/signin", headers={"Accept-Language": "en"}, timeout=10)
        assert '<html lang="fr">' in pu.text and "Nouveau sur l'Université partenaire\u00a0?" in html.unescape(pu.text)
        zh = http.get(f"{idp.url}/partner-university/signin?lang=zh_Hant_TW", timeout=10)
        assert '<html lang="zh-Hant-TW">' in zh.text and "第一次使用合作夥伴大學？" in zh.text
    new_visitor = requests.get(f"{idp.url}/learn/signin", headers={"Accept-Language": "fr-CA,fr;q=0.8"},
                               timeout=10)
    assert '<html lang="fr">' in new_visitor.text


def test_accept_language_is_the_fallback(client):
    fr = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in fr.text and "Se connecter à l'Espace partenaires" in html.unescape(fr.text)
    zh = client.application.test_client().get("/login", headers={"Accept-Language": "zh-TW"})
    assert '<html lang="zh-Hant-TW">' in zh.text and "登入合作夥伴中心" in zh.text
    other = client.application.test_client().get("/login", headers={"Accept-Language": "de-DE"})
    assert '<html lang="en">' in other.text and "Sign in to Partner Center" in other.text


def test_chosen_language_survives_sign_out_and_sign_in(app, browser):
    sign_in(browser, "alex@contoso.com")
    assert "Mon profil Learn" in text_of(switch_language(browser, browser.open("/profile"), "fr"))
    assert saved_language(app, "alex@contoso.com") == "fr"
    page = browser.open("/profile")
    out = browser.submit(page, page.form_with(action_contains="/logout"))
    assert out.url.endswith("/login") and "Vous êtes déconnecté." in text_of(out)

    # A new browser (no session, no Accept-Language): the preference comes back at sign-in.
    fresh = Browser(app.test_client())
    assert "Sign in to Partner Center" in fresh.open("/login").text
    profile = sign_in(fresh, "alex@contoso.com")
    assert '<html lang="fr">' in profile.text and "Mon profil Learn" in text_of(profile)

    # The next person on the first browser gets their own saved language, not Alex's French.
    pat = Browser(app.test_client())
    sign_in(pat, "pat@contoso.com")
    switch_language(pat, pat.open("/profile"), "zh_Hant_TW")
    page = sign_in_in_any_language(browser, "pat@contoso.com")
    assert page.url.endswith("/profile") and '<html lang="zh-Hant-TW">' in page.text
    assert saved_language(app, "alex@contoso.com") == "fr"


def test_language_chosen_before_signing_in_becomes_the_preference(app, browser):
    assert "登入合作夥伴中心" in switch_language(browser, browser.open("/login"), "zh_Hant_TW").text
    page = sign_in_in_any_language(browser, "nina@contoso.com")
    assert page.url.endswith("/profile") and "我的 Learn 設定檔" in page.text
    assert saved_language(app, "nina@contoso.com") == "zh_Hant_TW"


def test_unknown_language_is_ignored(app, browser):
    sign_in(browser, "alex@contoso.com")
    page = browser.open("/profile?lang=xx")
    assert page.status == 200 and '<html lang="en">' in page.text
    assert saved_language(app, "alex@contoso.com") is None


def test_numbers_follow_the_locale(app):
    with app.test_request_context("/?lang=fr"):
        assert app.jinja_env.from_string("{{ 1234567|number }}").render() == "1\u202f234\u202f567"
        assert app.jinja_env.from_string("{{ 7.456|number(2) }} {{ 2.5|number }}").render() == "7,46 2,5"
    with app.test_request_context("/?lang=en"):
        assert app.jinja_env.from_string("{{ 7.456|number(2) }} {{ 10.0|number(2) }}").render() == "7.46 10"
    with app.test_request_context("/?lang=zh_Hant_TW"):
        assert app.jinja_env.from_string("{{ 1234567|number }}").render() == "1,234,567"


def test_templates_gettext_matches_jinja_newstyle_gettext(app):
    """Templates call ``_`` directly (common.languages.template_gettext), not through Jinja's
    i18n wrapper: the output is the same as Jinja's newstyle gettext under autoescaping."""
    from jinja2 import Environment

    from flask_babel import get_translations as page_translations

    reference = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    reference.install_gettext_callables(
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n), newstyle=True)
    sources = ["{{ _('Sign out') }}", "{{ _('Simulated date: %(date)s', date=d) }}",
               "{{ _('100%% sure') }}", "{{ _('a < b & c') }}", "{{ _('%(n)s%% of %(d)s', n=5, d=d) }}"]
    for lang in ("en", "fr", "zh_Hant_TW"):
        with app.test_request_context(f"/?lang={lang}"):
            for source in sources:
                ours = app.jinja_env.from_string(source).render(d="<b>x</b>")
                assert ours == reference.from_string(source).render(d="<b>x</b>"), (lang, source)
                assert "<b>" not in ours
            if lang == "fr":
                assert app.jinja_env.from_string("{{ _('Sign out') }}").render() != "Sign out"


def test_form_validation_messages_in_traditional_chinese(browser):
    page = browser.open("/login?lang=zh_Hant_TW")
    page = browser.submit(page, next(f for f in page.forms() if "email" in f.fields), {"email": "", "password": ""})
    assert "此欄位是必需的。" in page.text  # WTForms' zh_TW catalog, not its Simplified "zh"
    assert "该字段" not in page.text


# --------------------------------------------------------------------------- every page, translated

def visible_text(page_html: str) -> str:
    without_code = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", page_html, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", without_code)).split())


def english_left_over(text: str, extracted: Catalog, lang: str) -> list[str]:
    """Messages of three words or more that show in English although the catalog translates them.

    Catches text translated too early (at import time, outside any request) or never passed
    through gettext, which the catalog checks above cannot see.
    """
    catalog = load_catalog(lang)
    found = []
    for message in extracted:
        if not message.id or not isinstance(message.id, str) or "%(" in message.id:
            continue
        if len(message.id.split()) < 3:
            continue
        translated = catalog.get(message.id)
        if translated is not None and translated.string and translated.string != message.id \
                and " ".join(message.id.split()) in text:
            found.append(message.id)
    return found


def html_get_pages(app, *, skip_prefixes=("/static", "/healthz")) -> list[str]:
    """Every GET page of an app whose URL has no variable part (new pages are covered as they come)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(skip_prefixes) \
                and not rule.rule.endswith((".csv", ".json")):
            urls.append(rule.rule)
    return sorted(urls)


@pytest.mark.parametrize("lang", TRANSLATED_LANGUAGES)
def test_every_partner_center_page_is_translated(app, browser, extracted, lang):
    sign_in(browser, "gloria.global@contoso.com")  # a Global admin sees every page
    link_account(browser, "partner-university", "pat.pu@outlook.com")
    browser.open(f"/profile?lang={lang}")
    problems = {}
    pages = html_get_pages(app)
    with app.app_context():  # one trace page too (its URL has the attempt's id)
        attempt_id = db.session.scalar(select(LinkAttempt.id))
    pages.append(f"/traces/{attempt_id}")
    for url in pages:
        page = browser.open(url)
        if "text/html" not in page.headers.get("Content-Type", ""):
            continue
        assert page.status < 500, url
        left = english_left_over(visible_text(page.text), extracted, lang)
        if left:
            problems[url] = left
    assert "/profile" in pages and len(pages) >= 3
    assert not problems, f"English text on {lang} pages: {problems}"


@pytest.mark.parametrize("lang", TRANSLATED_LANGUAGES)
def test_every_provider_page_is_translated(idp, extracted, lang):
    provider_app = idp.app
    visitor = Browser(client=None)
    page = visitor.open(f"{idp.url}/learn/signin?lang={lang}")
    page = visitor.submit(page, page.forms()[0], {"email": "alex.learner@outlook.com", "password": "Passw0rd!"})
    problems = {}
    urls = []
    for rule in provider_app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith("/static") or rule.arguments - {"issuer"} \
                or rule.endpoint.endswith("logout"):  # GET logout would end the visit
            continue
        for issuer in ("learn", "partner-university") if "issuer" in rule.arguments else ("",):
            urls.append(rule.rule.replace("<issuer>", issuer))
    for url in sorted(set(urls)):
        page = visitor.open(idp.url + url)
        if "text/html" not in page.headers.get("Content-Type", "") or page.status >= 500:
            assert page.status < 500, url
            continue
        left = english_left_over(visible_text(page.text), extracted, lang)
        if left:
            problems[url] = left
    assert "/learn/account" in urls and len(urls) >= 8
    assert not problems, f"English text on {lang} provider pages: {problems}"


def test_provider_error_page_explains_in_the_page_language(idp):
    import requests

    page = requests.get(f"{idp.url}/learn/authorize", timeout=10, params={
        "client_id": "nobody", "response_type": "code", "scope": "openid", "lang": "fr"})
    text = html.unescape(page.text)
    assert page.status_code == 400
    assert "Cette demande de connexion n'est pas valide" in text
    assert "L'application qui vous a envoyé ici n'est pas inscrite auprès de ce fournisseur (invalid_client)." in text


def test_a_lang_link_does_not_change_the_saved_preference(app, browser):
    """GET is not a state change: ?lang= (a cross-site link or image) changes this session's
    pages, never the work user's saved language; the switcher's POST does."""
    sign_in(browser, "alex@contoso.com")
    assert '<html lang="fr">' in browser.open("/profile?lang=fr").text
    assert '<html lang="fr">' in browser.open("/profile").text  # kept for this session
    assert saved_language(app, "alex@contoso.com") is None
    # Signed out, a ?lang= link does not become the next sign-in's preference either.
    fresh = Browser(app.test_client())
    fresh.open("/login?lang=zh_Hant_TW")
    sign_in_in_any_language(fresh, "nina@contoso.com")
    assert saved_language(app, "nina@contoso.com") is None


def test_the_switcher_post_needs_its_csrf_token_and_a_known_language(app, browser):
    sign_in(browser, "alex@contoso.com")
    forged = browser.client.post("/language", data={"lang": "fr", "next": "/profile"})
    assert forged.status_code == 400
    page = browser.open("/profile")
    form = page.form_with(action_contains="/language")
    bad = browser.submit(page, form, {"lang": "xx", "next": "https://evil.example/"})
    assert bad.url == "http://localhost/profile" and "This language is not available." in bad.text
    assert saved_language(app, "alex@contoso.com") is None
