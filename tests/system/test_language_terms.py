"""French and Traditional Chinese read as written by a native speaker: French typography and
articles, one name per thing, the article's button wording, the locale's usual times."""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone

import pytest
from flask_babel import force_locale

from tests.fixtures.flows import DEMO_PASSWORD, sign_in, start_link
from tests.fixtures.catalogs import load_catalog

pytestmark = pytest.mark.database_neutral


def translations(lang: str) -> list[tuple[str, str]]:
    """(msgid, each translated form) of a catalog."""
    pairs = []
    for message in load_catalog(lang):
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        pairs.extend((msgid, form) for form in forms if form)
    return pairs


def test_french_has_a_non_breaking_space_before_double_punctuation():
    bad = []
    for msgid, text in translations("fr"):
        stripped = re.sub(r"https?://\S+|%\(\w+\)[sd]|\d+:\d+", "", text)
        if re.search(r"(?<!\u00a0)[:;?!](?=\s|$|»)", stripped) or re.search(r"«(?!\u00a0)", stripped):
            bad.append(text)
    assert not bad, "\n".join(bad)


def test_french_names_partner_university_with_its_article():
    """"Université partenaire" takes an article (de l'…, à l'…): the provider's name is never
    put straight after a preposition or at the start of a sentence."""
    bad = []
    for msgid, text in translations("fr"):
        filled = text.replace("%(provider)s", "Université partenaire")
        # At the start of a sentence only as a label ("Université partenaire : …").
        if re.search(r"\b(de|à|sur|que|par|pour) Université partenaire"
                     r"|(^|[.;]\s)Université partenaire(?!\u00a0:|$)", filled):
            bad.append(filled)
    assert not bad, "\n".join(bad)


def test_french_profile_signs_out_of_l_universite_partenaire(app, browser):
    sign_in(browser, "alex@contoso.com")
    text = html.unescape(browser.open("/profile?lang=fr").text)
    assert "Se déconnecter de l'Université partenaire" in text
    assert "Se déconnecter de Microsoft Learn" in text
    assert "de Université partenaire" not in text


def test_french_provider_pages_call_partner_center_espace_partenaires(app, browser):
    sign_in(browser, "alex@contoso.com")
    browser.open("/profile?lang=fr")
    signin = start_link(browser, "learn")
    signin_text = html.unescape(signin.text)
    assert "Espace partenaires" in signin_text and "Partner Center" not in signin_text
    consent = html.unescape(browser.submit(signin, signin.form_with(button="Se connecter"), {
        "email": "alex.learner@outlook.com", "password": DEMO_PASSWORD}, button="Se connecter").text)
    assert "L'application Espace partenaires souhaite\u00a0:" in consent
    assert "Partner Center" not in consent


@pytest.mark.parametrize("lang", ["fr", "zh_Hant_TW"])
def test_the_learn_guidance_names_the_providers_settings_page_by_its_title(lang):
    catalog = load_catalog(lang)
    title = catalog.get("Account management").string
    settings = catalog.get("Settings").string
    guidance = next(m.string for m in catalog if isinstance(m.id, str)
                    and m.id.startswith("You signed in to Microsoft Learn with a work"))
    assert title in guidance and settings in guidance, (title, guidance)


def test_chinese_buttons_use_the_articles_button_wording(app, browser):
    sign_in(browser, "alex@contoso.com")
    text = html.unescape(browser.open("/profile?lang=zh_Hant_TW").text)
    assert re.search(r"<button[^>]*>取得夥伴大學存取</button>", text)
    assert re.search(r"<button[^>]*>關聯 Microsoft Learning 帳戶</button>", text)


def test_chinese_has_one_term_for_work_user():
    texts = [text for _msgid, text in translations("zh_Hant_TW")]
    assert not [t for t in texts if "公司使用者" in t]
    work_users = load_catalog("zh_Hant_TW").get("Work users").string
    assert "工作使用者" in work_users


def test_chinese_times_use_the_usual_am_pm_marker(app):
    from webapp.template_helpers import medium_datetime

    noon = datetime(2026, 12, 4, 12, 52, 57, tzinfo=timezone.utc)
    with app.test_request_context():
        with force_locale("zh_Hant_TW"):
            assert medium_datetime(noon) == "2026年12月4日 下午12:52:57"
        with force_locale("fr"):
            assert medium_datetime(noon) == "4 déc. 2026, 12:52:57"
        with force_locale("en"):
            assert medium_datetime(noon) == "Dec 4, 2026, 12:52:57\u202fPM"
