"""Reports: Skills report (page and CSV), deleted users' removal date, Learn analytics, skilling points."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest

from tests.fixtures.browser import Browser
from tests.fixtures.flows import link_account, sign_in
from tests.fixtures.report_helpers import (QueryCounter, apply, run_refresh_worker, delete_user, entry, link, move_clock_to, new_user,
                                  org, user)
from webapp import clock
from webapp.reports import credit
from webapp.reports import analytics as learn_analytics
from webapp.reports import skilling_points as points
from webapp.reports import refresh
from webapp.reports import skills_report
from webapp.extensions import db
from webapp.linking import service as linking_service
from webapp.models import LEARN, PARTNER_UNIVERSITY


def csv_rows(organization) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(skills_report.skills_report_csv(organization)))))


# ---------------------------------------------------------------- deleted users: removal date

@pytest.mark.parametrize("deleted, removal", [
    (datetime(2026, 1, 1, 0, 0), date(2026, 2, 10)),
    (datetime(2026, 1, 31, 23, 59), date(2026, 2, 10)),
    (datetime(2026, 2, 28, 12, 0), date(2026, 3, 10)),
    (datetime(2026, 12, 1, 8, 0), date(2027, 1, 10)),
    (datetime(2026, 12, 31, 23, 59), date(2027, 1, 10)),
])
def test_skills_report_removal_date_is_the_10th_of_the_following_month(deleted, removal):
    assert credit.skills_report_removal_date(deleted) == removal


def test_removal_cutoff_agrees_with_removal_date_every_day_of_a_year():
    for offset in range(400):
        deleted = datetime(2026, 1, 1, 18, 0) + timedelta(days=offset)
        removal = credit.skills_report_removal_date(deleted)
        for on in (removal - timedelta(days=1), removal, removal + timedelta(days=1)):
            listed = deleted >= credit.skills_report_cutoff(on)
            assert listed == (on <= removal), (deleted, on)


def test_deleted_user_is_listed_until_february_10_and_gone_on_february_11(app_ctx):
    move_clock_to(date(2026, 1, 2))
    carl = user("carl@contoso.com")
    carl_link = link(carl)
    apply({carl_link.id: [entry("c1", date(2025, 12, 1), code="AZ-305", level="advanced")]})
    move_clock_to(date(2026, 1, 31))
    delete_user(carl)
    contoso = org()

    move_clock_to(date(2026, 2, 10))
    [row] = skills_report.skills_report_page(contoso.id).items
    assert (row.email, row.deleted_at.date(), row.removal_date) == ("carl@contoso.com", date(2026, 1, 31),
                                                                    date(2026, 2, 10))
    assert [a.code for a in row.achievements] == ["AZ-305"]
    lines = csv_rows(contoso)
    assert lines[1][0] == "carl@contoso.com" and lines[1][-2:] == ["Deleted", "2026-02-10"]
    assert points.skilling_points(contoso.id)[2].metrics[1].individuals == 1  # Infrastructure, advanced

    move_clock_to(date(2026, 2, 11))
    assert skills_report.skills_report_page(contoso.id).items == []
    assert len(csv_rows(contoso)) == 1  # the header only
    assert points.skilling_points(contoso.id)[2].metrics[1].individuals == 0


# ---------------------------------------------------------------- Skills report through the services

def test_skills_report_lists_linked_users_with_credited_exams_only(app_ctx):
    move_clock_to(date(2026, 3, 1))
    alex, pat, nina = user("alex@contoso.com"), user("pat@contoso.com"), user("nina@contoso.com")
    alex_learn = link(alex, key="987654321")
    alex_pu, pat_pu = link(alex, PARTNER_UNIVERSITY), link(pat, PARTNER_UNIVERSITY)
    apply({alex_learn.id: [entry("a1", date(2026, 2, 1)),
                           entry("a2", date(2026, 3, 8), code="AZ-305", level="advanced"),
                           entry("a3", date(2026, 2, 1), kind="training", code="TRAIN-AZ-FUND", level=None)],
           alex_pu.id: [entry("u1", date(2026, 2, 2), kind="assessment", code="ASSESS-AI")]})
    move_clock_to(date(2026, 3, 15))  # a1 and u1 credited on 3/11; a2 pending until 3/18
    page = skills_report.skills_report_page(org().id)
    assert [u.email for u in page.items] == ["alex@contoso.com", "pat@contoso.com"]  # nina never linked
    alex_row = page.items[0]
    assert alex_row.mcid == "987654321"
    assert sorted(alex_row.accounts) == sorted([(LEARN, alex_learn.email), (PARTNER_UNIVERSITY, alex_pu.email)])
    assert sorted((a.code, a.credit_on) for a in alex_row.achievements) == [
        ("ASSESS-AI", date(2026, 3, 11)), ("AZ-104", date(2026, 3, 11))]  # no training, no pending
    assert page.items[1].achievements == []
    assert nina.id not in {u.user_id for u in page.items}
    assert pat_pu.work_user_id == page.items[1].user_id


def test_skills_report_is_scoped_to_the_organization(app_ctx):
    move_clock_to(date(2026, 3, 1))
    apply({link(user("mia@fabrikam.com")).id: [entry("m1", date(2026, 1, 1))]})
    move_clock_to(date(2026, 4, 1))
    assert skills_report.skills_report_page(org().id).items == []
    assert [u.email for u in skills_report.skills_report_page(org("7654321").id).items] == ["mia@fabrikam.com"]


def test_skills_report_page_uses_a_constant_number_of_queries(app_ctx):
    move_clock_to(date(2026, 3, 1))
    transcripts = {}
    for _ in range(60):
        u = new_user()
        transcripts[link(u).id] = [entry("x1", date(2026, 1, 1)), entry("x2", date(2026, 1, 2), code="AZ-204")]
    apply(transcripts)
    move_clock_to(date(2026, 4, 1))
    contoso_id = org().id
    clock.today()  # the clock offset is read once per app context
    with QueryCounter() as small:
        page = skills_report.skills_report_page(contoso_id, page=1, per_page=5)
    with QueryCounter() as large:
        big = skills_report.skills_report_page(contoso_id, page=1, per_page=50)
    assert len(page.items) == 5 and len(big.items) == 50
    assert sum(len(u.achievements) for u in big.items) == 100
    assert small.count == large.count <= 3
    with QueryCounter() as analytics_small:
        learn_analytics.learn_analytics_page(contoso_id, per_page=5)
    with QueryCounter() as analytics:
        rows, totals = learn_analytics.learn_analytics_page(contoso_id, per_page=50)
    assert len(rows.items) == 50 and analytics_small.count == analytics.count <= 5
    assert totals["learn"] == 60 and totals["credited"] == 120


def test_csv_rows_escape_formulas_and_quote_separators(app_ctx):
    move_clock_to(date(2026, 3, 1))
    alex, pat = user("alex@contoso.com"), user("pat@contoso.com")
    alex.display_name, pat.display_name = "-Alex, \"the\" admin", "@Pat\x1fLee"
    db.session.commit()
    apply({link(alex).id: [entry("f1", date(2026, 1, 1), title="=HYPERLINK(\"x\")")],
           link(pat).id: [entry("f2", date(2026, 1, 1), code="+AZ", title="Line\nbreak")]})
    move_clock_to(date(2026, 4, 1))
    rows = csv_rows(org())
    assert all(len(r) == 15 for r in rows)
    assert (rows[1][1], rows[1][9]) == ("'-Alex, \"the\" admin", "'=HYPERLINK(\"x\")")
    assert (rows[2][1], rows[2][8], rows[2][9]) == ("'@Pat\x1fLee", "'+AZ", "Line\nbreak")


# ---------------------------------------------------------------- Learn analytics

def test_learn_analytics_statuses_and_counts(app_ctx):
    move_clock_to(date(2026, 3, 1))
    alex, pat, mia = user("alex@contoso.com"), user("pat@contoso.com"), user("mia@contoso.com")
    alex_learn, alex_pu, pat_pu, mia_learn = (link(alex), link(alex, PARTNER_UNIVERSITY),
                                              link(pat, PARTNER_UNIVERSITY), link(mia))
    apply({alex_learn.id: [entry("a1", date(2026, 2, 1)), entry("a2", date(2026, 3, 9))],
           alex_pu.id: [entry("a3", date(2026, 2, 1), kind="training", code=None, level=None)],
           pat_pu.id: [entry("p1", date(2026, 3, 20), kind="assessment", code="ASSESS-AI")]})
    linking_service.remove_link(mia, LEARN)
    delete_user(user("walt@contoso.com"))
    move_clock_to(date(2026, 3, 15))
    page, totals = learn_analytics.learn_analytics_page(org().id)
    by_email = {r.email: r for r in page.items}
    assert "walt@contoso.com" not in by_email  # deleted accounts are no longer work users
    assert (by_email["alex@contoso.com"].status, by_email["alex@contoso.com"].credited,
            by_email["alex@contoso.com"].pending) == ("both", 2, 1)
    assert (by_email["pat@contoso.com"].status, by_email["pat@contoso.com"].credited,
            by_email["pat@contoso.com"].pending) == ("partner_university", 0, 1)
    assert by_email["mia@contoso.com"].status == "not_linked"
    assert by_email["nina@contoso.com"].status == "not_linked"
    assert totals == {"not_linked": 7, "learn": 0, "partner_university": 1, "both": 1,
                      "credited": 2, "pending": 2}
    assert page.total == 9
    assert mia_learn.ended_at is not None


# ---------------------------------------------------------------- skilling points

def test_metric_points_partial_full_and_capped():
    assert points.metric_points(0, 4, 10) == 0
    assert points.metric_points(1, 4, 10) == 2.5  # proportional progress
    assert points.metric_points(3, 4, 10) == 7.5
    assert points.metric_points(4, 4, 10) == 10  # full at the threshold
    assert points.metric_points(9, 4, 10) == 10  # never more than the maximum
    assert points.metric_points(1, 3, 10) == 3.33


def test_skilling_points_data_file_is_labelled_sample_values():
    config = points.skilling_points_config()
    assert config["sample_values"] is True and "SAMPLE VALUES" in config["note"]
    names = [a["name"] for a in config["solution_areas"]]
    assert names == ["Data & AI (Azure)", "Digital & App Innovation (Azure)", "Infrastructure (Azure)",
                     "Security", "Modern Work", "Business Applications"]
    for area in config["solution_areas"]:
        for level in ("intermediate", "advanced"):
            assert area[level]["sample_value"] is True
            assert area[level]["threshold"] > 0 and area[level]["max_points"] > 0


def test_skilling_points_count_individuals_with_credited_certifications(app_ctx):
    move_clock_to(date(2026, 3, 1))
    transcripts = {}
    for n in range(5):  # five individuals with AZ-104: over the threshold of 4
        transcripts[link(new_user()).id] = [entry(f"i{n}", date(2026, 1, 1)),
                                            entry(f"j{n}", date(2026, 1, 2), code="AZ-800")]
    transcripts[link(new_user()).id] = [entry("adv", date(2026, 1, 1), code="AZ-305", level="advanced")]
    transcripts[link(new_user()).id] = [entry("late", date(2026, 3, 20), code="AZ-305", level="advanced"),
                                        entry("asmt", date(2026, 1, 1), kind="assessment", code="AZ-305")]
    apply(transcripts)
    move_clock_to(date(2026, 3, 20))
    areas = {a.key: a for a in points.skilling_points(org().id)}
    infra = areas["infrastructure-azure"]
    assert [(m.level, m.individuals, m.points) for m in infra.metrics] == [
        ("intermediate", 5, 10.0), ("advanced", 1, 7.5)]  # capped; 1 of 2 (the pending one not yet)
    assert infra.points == 17.5 and infra.max_points == 25
    assert areas["digital-app-innovation-azure"].metrics[1].points == 7.5
    assert areas["security"].points == 0
    move_clock_to(date(2026, 3, 30))
    infra = {a.key: a for a in points.skilling_points(org().id)}["infrastructure-azure"]
    assert infra.metrics[1].points == 15.0  # full at the threshold of 2


# ---------------------------------------------------------------- through HTTP

def _browser(app) -> Browser:
    return Browser(app.test_client())


def test_reports_are_refused_to_plain_users_and_account_admins(app):
    for email in ("alex@contoso.com", "aaron.account@contoso.com"):
        browser = _browser(app)
        page = sign_in(browser, email)
        assert "/reports" not in page.text  # no menu entry
        for path in ("/reports/", "/reports/skills", "/reports/skills.csv", "/reports/learn-analytics",
                     "/reports/skilling-points"):
            assert browser.open(path).status == 403, (email, path)
        token = page.form_with(action_contains="/logout").fields["csrf_token"]
        with app.app_context():
            last = refresh.last_refresh()
        refused = browser.open("/reports/refresh", method="POST", data={"csrf_token": token})
        assert refused.status == 403
        with app.app_context():
            assert refresh.last_refresh() == last
    anonymous = _browser(app).open("/reports/skills.csv", follow=False)
    assert anonymous.status == 302 and "/login" in anonymous.headers["Location"]


def test_skills_csv_download(app):
    with app.app_context():
        move_clock_to(date(2026, 3, 1))
        alex = user("alex@contoso.com")
        apply({link(alex, key="987654321").id: [entry("a1", date(2026, 2, 1), title="Azure Administrator"),
                                                 entry("a2", date(2026, 2, 2), kind="assessment",
                                                       code="ASSESS-AZ-SEC", title="Security, \"quoted\"")]})
        move_clock_to(date(2026, 3, 11))
    browser = _browser(app)
    sign_in(browser, "paula.partner@contoso.com")
    response = browser.client.get("/reports/skills.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="skills-report-1234567-2026-03-11.csv"'
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["Work email", "Name", "Organization"]
    assert rows[1:] == [
        ["alex@contoso.com", "Alex Johnson", "Contoso", "1234567", "Microsoft Learn", "987654321",
         "person987654321@outlook.com", "Certification", "AZ-104", "Azure Administrator", "Intermediate",
         "2026-02-01", "2026-03-11", "Active", ""],
        ["alex@contoso.com", "Alex Johnson", "Contoso", "1234567", "Microsoft Learn", "987654321",
         "person987654321@outlook.com", "Assessment", "ASSESS-AZ-SEC", 'Security, "quoted"', "Intermediate",
         "2026-02-02", "2026-03-11", "Active", ""],
    ]


def test_skills_report_page_is_paginated(app):
    with app.app_context():
        for _ in range(55):
            link(new_user())
    browser = _browser(app)
    sign_in(browser, "gloria.global@contoso.com")
    first = browser.open("/reports/skills")
    assert first.status == 200 and "55 linked users." in first.text
    assert first.text.count("<tr data-user=") == 50 and "Page 1 of 2" in first.text
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = browser.open("/reports/skills?page=2")
    assert second.text.count("<tr data-user=") == 5 and 'rel="prev"' in second.text
    assert browser.open("/reports/skills?page=99").text.count("<tr data-user=") == 5  # clamped
    assert browser.open("/reports/skills?page=abc").status == 200


def test_refresh_button_over_real_http(app, idp):
    learner = _browser(app)
    sign_in(learner, "alex@contoso.com")
    link_account(learner, "learn", "alex.learner@outlook.com")

    admin = _browser(app)
    sign_in(admin, "gloria.global@contoso.com")
    page = admin.open("/reports/skills")
    assert "has not been refreshed" in page.text and "alex@contoso.com" in page.text
    queued = admin.submit(page, page.form_with(action_contains="/reports/refresh"))
    assert queued.url.endswith("/reports/skills")
    assert "Data refresh started" in queued.text and 'data-refresh-status="queued"' in queued.text
    # A second press while it waits queues nothing more: one refresh per organization at a time.
    twice = admin.submit(queued, queued.form_with(action_contains="/reports/refresh"))
    assert "already running" in twice.text
    run_refresh_worker(app)
    done = admin.open("/reports/skills")
    assert 'data-refresh-status="done"' in done.text
    assert "Last data refresh: 1 of 1 user done, 0 errors." in done.text
    assert "Data refreshed from 1 linked account: 3 added, 0 updated, 0 removed." in done.text
    assert "Data last refreshed" in done.text
    again = admin.submit(done, done.form_with(action_contains="/reports/refresh"))
    run_refresh_worker(app)
    assert "no changes" in admin.open("/reports/skills").text

    # Without the CSRF token nothing runs.
    form = again.form_with(action_contains="/reports/refresh")
    with app.app_context():
        move_clock_to(clock.today() + timedelta(days=3))  # a refresh now would record a new time
        last = refresh.last_refresh()
    forged = admin.open("/reports/refresh", method="POST", data={"back_to": form.fields["back_to"]})
    assert forged.status == 400 and "The request could not be accepted" in forged.text
    with app.app_context():
        assert refresh.last_refresh() == last
    # back_to only names report pages: anything else goes to the reports index.
    odd = admin.open("/reports/refresh", method="POST", data={**form.fields, "back_to": "https://evil.example"})
    assert odd.url.endswith("/reports/")


def test_learn_analytics_and_skilling_pages_render(app):
    with app.app_context():
        move_clock_to(date(2026, 3, 1))
        apply({link(user("alex@contoso.com")).id: [entry("a1", date(2026, 1, 1))],
               link(user("pat@contoso.com"), PARTNER_UNIVERSITY).id: []})
        move_clock_to(date(2026, 3, 11))
    browser = _browser(app)
    sign_in(browser, "paula.partner@contoso.com")
    analytics = browser.open("/reports/learn-analytics")
    assert analytics.status == 200
    assert 'data-user="alex@contoso.com"><td>Alex Johnson</td><td>alex@contoso.com</td><td data-field="status" data-status="learn">Linked to Microsoft Learn' in analytics.text
    assert 'data-status="partner_university"' in analytics.text
    assert "frank.global@fabrikam.com" not in analytics.text
    points = browser.open("/reports/skilling-points")
    assert points.status == 200 and "Sample values." in points.text
    assert 'data-area="infrastructure-azure" data-level="intermediate"' in points.text
    for name in ("Data &amp; AI (Azure)", "Digital &amp; App Innovation (Azure)", "Infrastructure (Azure)",
                 "Security", "Modern Work", "Business Applications"):
        assert name in points.text
    assert browser.open("/reports/").status == 200
    french = browser.open("/reports/skills?lang=fr")
    assert french.status == 200


def test_csv_lists_the_same_users_and_exams_as_the_page(app_ctx):
    move_clock_to(date(2026, 3, 1))
    alex, pat, priya, carl = (user("alex@contoso.com"), user("pat@contoso.com"), user("priya@contoso.com"),
                              user("carl@contoso.com"))
    alex_learn, alex_pu = link(alex), link(alex, PARTNER_UNIVERSITY)
    carl_link = link(carl)
    link(priya)
    mia_fabrikam = link(user("mia@fabrikam.com"))
    apply({alex_learn.id: [entry("a1", date(2026, 1, 5)), entry("a2", date(2026, 1, 1), code="AZ-305"),
                           entry("a3", date(2026, 3, 20), code="AZ-204")],  # a3 still pending
           alex_pu.id: [entry("u1", date(2026, 1, 3), kind="assessment", code="ASSESS-AI"),
                        entry("u2", date(2026, 1, 3), kind="training", code="TRAIN-COPILOT", level=None)],
           carl_link.id: [entry("c1", date(2026, 1, 1))],
           mia_fabrikam.id: [entry("m1", date(2026, 1, 1))]})
    linking_service.remove_link(carl, LEARN)  # carl's achievement stays in the table until the next refresh
    link(pat)  # linked, nothing completed
    move_clock_to(date(2026, 3, 25))
    contoso = org()
    rows = csv_rows(contoso)[1:]
    by_user: dict[str, list] = {}
    for row in rows:
        by_user.setdefault(row[0], []).append(row[8])
    assert by_user == {"alex@contoso.com": ["AZ-305", "AZ-104", "ASSESS-AI"], "pat@contoso.com": [""],
                       "priya@contoso.com": [""]}
    page = skills_report.skills_report_page(contoso.id)
    assert {u.email: sorted(a.code for a in u.achievements) for u in page.items} == {
        email: sorted(c for c in codes if c) for email, codes in by_user.items()}
    assert [r[4] for r in rows[:3]] == ["Microsoft Learn", "Microsoft Learn", "Partner University"]
    assert all(len(r) == 15 for r in rows)


def test_csv_is_the_same_file_whatever_the_batch_size(app_ctx):
    """Batches of one row, of a few and of more than all: no line lost or repeated at their seams."""
    move_clock_to(date(2026, 3, 1))
    users = [new_user() for _ in range(4)]
    links = [link(work_user) for work_user in users]
    apply({links[0].id: [entry("a1", date(2026, 1, 5)), entry("a2", date(2026, 1, 1), code="AZ-305")],
           links[2].id: [entry("c1", date(2026, 1, 2), code="AZ-204")]})
    move_clock_to(date(2026, 3, 25))
    contoso = org()
    files = {batch: "".join(skills_report.skills_report_csv(contoso, batch=batch)) for batch in (1, 2, 3, 5000)}
    assert len(set(files.values())) == 1
    rows = list(csv.reader(io.StringIO(files[1])))[1:]
    first, second, third, fourth = (work_user.email for work_user in users)
    assert [(row[0], row[8]) for row in rows] == [
        (first, "AZ-305"), (first, "AZ-104"), (second, ""), (third, "AZ-204"), (fourth, "")]
