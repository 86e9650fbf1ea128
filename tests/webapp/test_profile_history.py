"""My Learn profile lists the newest ended associations and counts all of them."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.fixtures.flows import sign_in
from webapp import clock
from webapp.extensions import db
from webapp.linking import rules
from webapp.models import LEARN, LearningIdentity, LinkedAccount, WorkUser
from webapp.profile import service as profile_service


def add_ended_links(user: WorkUser, count: int) -> None:
    start = clock.now() - timedelta(days=40 * count)
    for i in range(count):
        identity = LearningIdentity(provider=LEARN, identity_key=f"80000{i:04d}", association_count=1)
        db.session.add(identity)
        db.session.flush()
        linked = start + timedelta(days=40 * i)
        db.session.add(LinkedAccount(
            work_user_id=user.id, organization_id=user.organization_id, identity_id=identity.id,
            provider=LEARN, issuer="http://idp/learn", subject=f"sub-{i}", email=f"old{i}@outlook.com",
            display_name=f"Old {i}", mcid=f"80000{i:04d}", linked_at=linked,
            ended_at=linked + timedelta(days=1), end_reason="removed by user"))
    db.session.commit()


def test_profile_section_keeps_the_newest_and_counts_all(app_ctx):
    user = db.session.scalar(select(WorkUser).where(WorkUser.email == "alex@contoso.com"))
    add_ended_links(user, profile_service.PROFILE_HISTORY_SHOWN + 3)
    section = profile_service.profile_section(user, LEARN)
    assert section.link is None
    assert section.history_total == profile_service.PROFILE_HISTORY_SHOWN + 3
    assert len(section.history) == profile_service.PROFILE_HISTORY_SHOWN
    emails = [h.email for h in section.history]
    assert emails[0] == f"old{profile_service.PROFILE_HISTORY_SHOWN + 2}@outlook.com"  # newest first
    assert "old0@outlook.com" not in emails and "old2@outlook.com" not in emails


def test_profile_page_shows_the_count_of_all_associations(app, browser):
    with app.app_context():
        user = db.session.scalar(select(WorkUser).where(WorkUser.email == "alex@contoso.com"))
        add_ended_links(user, profile_service.PROFILE_HISTORY_SHOWN + 2)
    page = sign_in(browser, "alex@contoso.com")
    total = profile_service.PROFILE_HISTORY_SHOWN + 2
    assert f"Association history ({total})" in page.text
    assert f"The latest {profile_service.PROFILE_HISTORY_SHOWN} of {total} associations." in page.text
    assert "old11@outlook.com" in page.text and "old0@outlook.com" not in page.text


def test_counts_with_an_active_link_and_a_long_history(app_ctx):
    """The count of ended associations leaves the active link out; the next date comes from
    the newest starts of the individual now linked (the older individuals do not matter)."""
    user = db.session.scalar(select(WorkUser).where(WorkUser.email == "alex@contoso.com"))
    add_ended_links(user, profile_service.PROFILE_HISTORY_SHOWN + 5)
    identity = LearningIdentity(provider=LEARN, identity_key="800009999", association_count=1)
    db.session.add(identity)
    db.session.flush()
    linked = clock.now() - timedelta(days=3)
    db.session.add(LinkedAccount(
        work_user_id=user.id, organization_id=user.organization_id, identity_id=identity.id,
        provider=LEARN, issuer="http://idp/learn", subject="sub-active", email="now@outlook.com",
        display_name="Now", mcid="800009999", linked_at=linked))
    db.session.commit()
    section = profile_service.profile_section(user, LEARN)
    assert section.link is not None and section.link.email == "now@outlook.com"
    assert section.history_total == profile_service.PROFILE_HISTORY_SHOWN + 5
    assert len(section.history) == profile_service.PROFILE_HISTORY_SHOWN
    assert section.history[0].email == f"old{profile_service.PROFILE_HISTORY_SHOWN + 4}@outlook.com"
    assert (section.next_date, section.next_reason) == (linked.date() + rules.COOL_OFF, "cool_off")
    other = profile_service.profile_section(user, "partner-university")
    assert other.link is None and other.history == [] and other.history_total == 0


def test_support_guidance_beside_the_next_date_and_for_mcid_questions(browser):
    """The older articles: "if problems persist after that date, contact support"; MCID questions
    go to certification support. Both on My Learn profile, in each language."""
    import html

    from tests.fixtures.flows import switch_language

    page = sign_in(browser, "carl@contoso.com")
    expected = {
        "en": ("If you have problems associating after that date, contact support:",
               "For questions about your Microsoft Certification profile (MCID), such as merging "
               "profiles, contact certification support:"),
        "fr": ("Si vous avez des problèmes pour effectuer une association après cette date, contactez "
               "le support technique\u00a0:", "contactez le support technique des certifications\u00a0:"),
        "zh_Hant_TW": ("如果您在該日期之後仍有關聯問題，請聯繫支援人員：", "請聯絡認證支援："),
    }
    for code, (after_date, mcid) in expected.items():
        if code != "en":
            page = switch_language(browser, page, code)
        text = html.unescape(page.text)
        for section_id in ("your-learning", "exams-certifications"):
            section = text.split(f'id="{section_id}"')[1].split("</section>")[0]
            next_date = section.split('data-field="next_association"')[1].split("</p>")[0]
            assert after_date in next_date and 'href="https://partner.microsoft.com/support"' in next_date
            assert (mcid in section) == (section_id == "exams-certifications"), (code, section_id)
        assert 'href="https://aka.ms/mcpforum"' in text
