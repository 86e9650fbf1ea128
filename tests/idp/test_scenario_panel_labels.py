"""The Test scenario list describes each scenario in one line, in the page language, grouped by
the stage of the flow where it fires."""
from __future__ import annotations

import html
import re

import pytest

from idp_mock.qa.catalog import CATALOG
from idp_mock.qa.panel import SCENARIO_LABELS, STAGE_LABELS
from tests.fixtures.idp_helpers import Browser as ProviderBrowser


def scenario_groups(idp, issuer: str, client_id: str, lang: str) -> dict[str, list[tuple[str, str]]]:
    """The panel's <select>: {group label: [(value, option text), ...]}."""
    url = (f"{idp.url}/{issuer}/authorize?response_type=code&client_id={client_id}"
           f"&redirect_uri=http%3A%2F%2Flocalhost%2Flink%2F{issuer}%2Fcallback&scope=openid"
           "&state=s1&nonce=n1&code_challenge=" + "a" * 43 + f"&code_challenge_method=S256&lang={lang}")
    page = ProviderBrowser().get(url)
    assert page.status_code == 200
    select = re.search(r'<select[^>]*id="qa-scenario".*?</select>', page.text, re.S).group(0)
    groups = {}
    for label, body in re.findall(r'<optgroup label="([^"]*)">(.*?)</optgroup>', select, re.S):
        groups[html.unescape(label)] = [(value, html.unescape(text).strip()) for value, text in
                                        re.findall(r'<option[^>]*value="([^"]*)"[^>]*>(.*?)</option>', body, re.S)]
    return groups


def test_every_scenario_has_a_one_line_description():
    assert set(SCENARIO_LABELS) == set(CATALOG)
    assert all(len(str(label)) <= 60 for label in SCENARIO_LABELS.values())


def test_the_list_describes_and_groups_each_scenario_in_english(idp):
    groups = scenario_groups(idp, "learn", "partner-center-learn", "en")
    stage_of = {str(STAGE_LABELS[stage]): stage for stage in STAGE_LABELS}
    seen = set()
    for group, options in groups.items():
        for value, text in options:
            assert CATALOG[value].stage == stage_of[group], (group, value)
            assert text == f"{SCENARIO_LABELS[value]} ({value})"
            seen.add(value)
    assert seen == {name for name, spec in CATALOG.items() if "learn" in spec.issuers}
    assert ("id_token_wrong_aud", "The ID token is for another app (aud) (id_token_wrong_aud)") \
        in groups["In the ID token"]


@pytest.mark.parametrize("lang, group, text", [
    ("fr", "Dans le jeton d'ID", "Le jeton d'ID est destiné à une autre application (aud) (id_token_wrong_aud)"),
    ("zh_Hant_TW", "於識別碼權杖中", "識別碼權杖是發給另一個應用程式的 (aud)（id_token_wrong_aud）"),
])
def test_the_list_is_translated(idp, lang, group, text):
    groups = scenario_groups(idp, "partner-university", "partner-center-pu", lang)
    assert ("id_token_wrong_aud", text) in groups[group]
