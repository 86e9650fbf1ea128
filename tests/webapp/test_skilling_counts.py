"""The Skilling points page reads the kept counts for the metrics of the data file, applies edited
thresholds without a recount, and counts a changed certification list straight from the
achievements until ``sync_metrics`` keeps it."""
from __future__ import annotations

import copy
from datetime import date

from sqlalchemy import select

from tests.fixtures.report_helpers import (apply, entry, link, move_clock_to, new_user, org, shown_skilling,
                                           straight_skilling)
from webapp.extensions import db
from webapp.models import LinkedAccount, WorkUser
from webapp.reports import skilling_points
from webapp.skilling_summary import SkillingMetric, sync_metrics


def recount(config):
    organization_id = org().id
    people = db.session.execute(select(WorkUser.id, WorkUser.deleted_at)
                                .where(WorkUser.organization_id == organization_id)).all()
    links = db.session.execute(select(LinkedAccount.id, LinkedAccount.work_user_id, LinkedAccount.ended_at,
                                      LinkedAccount.end_reason)).all()
    return straight_skilling(organization_id, people, links, config)


def test_thresholds_and_certification_lists_edited(app_ctx, monkeypatch):
    move_clock_to(date(2026, 3, 2))
    learner = link(new_user())
    apply({learner.id: [entry("c1", date(2026, 1, 5), code="AZ-305", level="advanced"),
                        entry("c2", date(2026, 1, 6), code="SC-200")]})
    move_clock_to(date(2026, 4, 1))
    config = skilling_points.skilling_points_config()
    straight = []
    real = skilling_points._straight_counts

    def spy(*args):
        straight.append(args[2])
        return real(*args)

    monkeypatch.setattr(skilling_points, "_straight_counts", spy)
    assert shown_skilling(org().id, config) == recount(config)
    assert straight == []  # every metric of the data file is read from the kept counts

    edited = copy.deepcopy(config)
    edited["solution_areas"][0]["advanced"]["threshold"] = 1
    areas = skilling_points.skilling_points(org().id, config=edited)
    assert straight == []  # thresholds are applied at read time
    assert areas[0].metrics[1].points == areas[0].metrics[1].max_points

    edited["solution_areas"][0]["intermediate"]["certifications"] = ["SC-200"]
    assert shown_skilling(org().id, edited) == recount(edited)
    assert straight == [[["SC-200"]]]  # a list not kept yet: counted from the achievements
    with db.engine.begin() as connection:
        sync_metrics(connection, edited)
    assert db.session.scalar(select(SkillingMetric.codes).where(SkillingMetric.codes == "SC-200")) == "SC-200"
    assert shown_skilling(org().id, edited) == recount(edited)
    assert straight == [[["SC-200"]]]
