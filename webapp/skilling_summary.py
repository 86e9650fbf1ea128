"""What the Skilling points page counts, kept up to date: for each metric (a list of
certification codes, webapp/data/skilling_points.json) and each work user, the first day one of
those certifications counts (SkillingUserMetric), and per organization and day the number of
current users whose first day it is (SkillingCount).

A metric is keyed by its certification codes, not by its area or thresholds: the thresholds and
points are applied when the page is read, so editing them needs no recount. The metrics kept are
those of SkillingMetric (filled by the migration and by ``flask skilling-points-sync`` after the
certification lists change); the page counts any other metric straight from the achievements.

Recounted with the users' other summary columns (user_summary.recount_users: every link change,
the refresh's merge) and when a user is deleted, in that change's transaction.
"""
from __future__ import annotations

import hashlib
from datetime import date
from typing import Iterable, Optional

from sqlalchemy import Date, ForeignKey, Index, String, Text, and_, delete, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .models import END_REASON_USER_DELETED, Achievement, LinkedAccount, WorkUser


class SkillingMetric(db.Model):
    """A metric whose counts are kept: its key and its certification codes (comma-separated)."""

    __tablename__ = "skilling_metrics"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    codes: Mapped[str] = mapped_column(Text)


class SkillingUserMetric(db.Model):
    """The first credit day of a metric's certifications for one user and organization, on the
    links the Skills report would list (active ones; for a deleted user also those ended by the
    deletion). ``counted``: the user is not deleted (so in SkillingCount)."""

    __tablename__ = "skilling_user_metrics"
    work_user_id: Mapped[int] = mapped_column(ForeignKey("work_users.id"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(primary_key=True)
    metric_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    credit_on: Mapped[date] = mapped_column(Date)
    counted: Mapped[bool]
    __table_args__ = (
        # The deleted users still listed are read from here (few rows: counted is false).
        Index("ix_skilling_user_metrics_org_counted", "organization_id", "counted", "metric_key", "credit_on"),
    )


class SkillingCount(db.Model):
    """How many current users of an organization first count for a metric on ``credit_on``."""

    __tablename__ = "skilling_counts"
    organization_id: Mapped[int] = mapped_column(primary_key=True)
    metric_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    credit_on: Mapped[date] = mapped_column(Date, primary_key=True)
    individuals: Mapped[int]


def metric_key(codes: Iterable[str]) -> str:
    return hashlib.sha256(",".join(sorted(set(codes))).encode()).hexdigest()[:32]


def _first_credits(connection, where, metrics: list) -> dict:
    """(user, organization, metric) -> (first credit day, counted) for the users ``where`` selects,
    from one pass over their certifications of every metric."""
    deleted = WorkUser.deleted_at.is_not(None)
    listed_link = or_(LinkedAccount.ended_at.is_(None),
                      and_(deleted, LinkedAccount.end_reason == END_REASON_USER_DELETED))
    all_codes = sorted({code for _key, codes in metrics for code in codes})
    rows = connection.execute(
        select(Achievement.work_user_id, Achievement.organization_id, Achievement.code,
               func.min(Achievement.credit_on), WorkUser.deleted_at.is_(None))
        .join(LinkedAccount, LinkedAccount.id == Achievement.link_id)
        .join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
        .where(Achievement.work_user_id.in_(select(WorkUser.id).where(where)),
               Achievement.kind == "certification", Achievement.code.in_(all_codes), listed_link)
        .group_by(Achievement.work_user_id, Achievement.organization_id, Achievement.code, WorkUser.deleted_at))
    keys_of = {}
    for key, codes in metrics:
        for code in codes:
            keys_of.setdefault(code, []).append(key)
    first = {}
    for user_id, organization_id, code, credit_on, current in rows:
        for key in keys_of[code]:
            known = first.get((user_id, organization_id, key))
            if known is None or credit_on < known[0]:
                first[(user_id, organization_id, key)] = (credit_on, bool(current))
    return first


def _counted(first: dict) -> dict:
    groups = {}
    for (_user, organization_id, key), (credit_on, counted) in first.items():
        if counted:
            groups[(organization_id, key, credit_on)] = groups.get((organization_id, key, credit_on), 0) + 1
    return groups


def _add_counts(connection, changes: dict) -> None:
    """Add each (organization, metric, day) change to SkillingCount, creating the row if needed."""
    rows = [{"organization_id": o, "metric_key": k, "credit_on": d, "individuals": n}
            for (o, k, d), n in sorted(changes.items()) if n]
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(SkillingCount)
    statement = statement.on_conflict_do_update(
        index_elements=["organization_id", "metric_key", "credit_on"],
        set_={"individuals": SkillingCount.individuals + statement.excluded.individuals})
    connection.execute(statement, rows)


def recount_skilling(connection, where, metrics: Optional[list] = None) -> None:
    """Recount the SkillingUserMetric rows of the users ``where`` selects (caller holds their row
    locks) and move SkillingCount by the difference."""
    if metrics is None:
        metrics = [(m.key, m.codes.split(",")) for m in connection.execute(select(SkillingMetric))]
    if not metrics:
        return
    keys = [key for key, _codes in metrics]
    mine = (SkillingUserMetric.work_user_id.in_(select(WorkUser.id).where(where)),
            SkillingUserMetric.metric_key.in_(keys))
    before = {(r.work_user_id, r.organization_id, r.metric_key): (r.credit_on, bool(r.counted))
              for r in connection.execute(select(SkillingUserMetric).where(*mine))}
    after = _first_credits(connection, where, metrics)
    if before == after:
        return
    connection.execute(delete(SkillingUserMetric).where(*mine))
    if after:
        connection.execute(insert(SkillingUserMetric), [
            {"work_user_id": u, "organization_id": o, "metric_key": k, "credit_on": d, "counted": c}
            for (u, o, k), (d, c) in sorted(after.items())])
    old, new = _counted(before), _counted(after)
    changes = {g: new.get(g, 0) - old.get(g, 0) for g in set(old) | set(new)}
    _add_counts(connection, changes)
    organizations = sorted({o for (o, _k, _d), n in changes.items() if n < 0})
    if organizations:
        connection.execute(delete(SkillingCount).where(SkillingCount.organization_id.in_(organizations),
                                                       SkillingCount.individuals == 0))


def sync_metrics(connection, config: dict) -> None:
    """Keep exactly the metrics of ``config``: drop the others, count the new ones for every user."""
    wanted = {}
    for area in config["solution_areas"]:
        for level in ("intermediate", "advanced"):
            codes = sorted(set(area[level]["certifications"]))
            wanted[metric_key(codes)] = codes
    kept = set(connection.execute(select(SkillingMetric.key)).scalars())
    for table in (SkillingUserMetric, SkillingCount):
        connection.execute(delete(table).where(table.metric_key.not_in(list(wanted))))
    connection.execute(delete(SkillingMetric).where(SkillingMetric.key.not_in(list(wanted))))
    new = [(key, codes) for key, codes in sorted(wanted.items()) if key not in kept]
    if new:
        connection.execute(insert(SkillingMetric), [{"key": k, "codes": ",".join(c)} for k, c in new])
        connection.execute(select(WorkUser.id).order_by(WorkUser.id).with_for_update()).all()
        recount_skilling(connection, WorkUser.id.is_not(None), new)
