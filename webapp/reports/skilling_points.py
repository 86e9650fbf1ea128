"""Skilling points: per solution area, the individuals with credited intermediate / advanced
certifications of the area, against the thresholds of webapp/data/skilling_points.json."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import case, func, select

from ..clock import today
from ..extensions import db
from ..models import Achievement, LinkedAccount, WorkUser
from ..skilling_summary import SkillingCount, SkillingMetric, SkillingUserMetric, metric_key
from .credit import reportable_link_clause, skills_report_cutoff

SKILLING_POINTS_FILE = Path(__file__).resolve().parent.parent / "data" / "skilling_points.json"
SKILLING_LEVELS = ("intermediate", "advanced")


def skilling_points_config(path: Path | None = None) -> dict:
    """The solution areas, their certifications, thresholds and points (read at each use, so an
    edited file counts at once)."""
    return json.loads((path or SKILLING_POINTS_FILE).read_text(encoding="utf-8"))


def metric_points(count: int, threshold: int, max_points: float) -> float:
    """Proportional points for progress, full points at the threshold, never more."""
    if threshold <= 0:
        return float(max_points)
    return round(max_points * min(count, threshold) / threshold, 2)


@dataclass
class MetricPoints:
    level: str
    certifications: list[str]
    individuals: int
    threshold: int
    max_points: float
    points: float


@dataclass
class AreaPoints:
    key: str
    name: str
    metrics: list[MetricPoints]

    @property
    def points(self) -> float:
        return round(sum(m.points for m in self.metrics), 2)

    @property
    def max_points(self) -> float:
        return round(sum(m.max_points for m in self.metrics), 2)


def skilling_points(organization_id: int, on: date | None = None,
                    config: dict | None = None) -> list[AreaPoints]:
    """The Skilling metric per solution area: individuals with credited intermediate / advanced
    certifications of the area, against the thresholds of the data file.

    The metrics kept by webapp/skilling_summary.py are read from its counts (a few rows per day
    of first credit, plus the deleted users still listed); any other is counted from the
    achievements.
    """
    on = on or today()
    config = config or skilling_points_config()
    metrics = [sorted(set(area[level]["certifications"])) for area in config["solution_areas"]
               for level in SKILLING_LEVELS]
    counts = _kept_counts(organization_id, on, {metric_key(codes) for codes in metrics})
    missing = [codes for codes in metrics if metric_key(codes) not in counts]
    if missing:
        counts.update(zip((metric_key(codes) for codes in missing),
                          _straight_counts(organization_id, on, missing)))
    result, position = [], 0
    for area in config["solution_areas"]:
        metrics_points = []
        for level in SKILLING_LEVELS:
            spec = area[level]
            individuals = int(counts[metric_key(metrics[position])])
            position += 1
            metrics_points.append(MetricPoints(level, list(spec["certifications"]), individuals,
                                               int(spec["threshold"]), float(spec["max_points"]),
                                               metric_points(individuals, int(spec["threshold"]),
                                                             float(spec["max_points"]))))
        result.append(AreaPoints(area["key"], area["name"], metrics_points))
    return result


def _kept_counts(organization_id: int, on: date, keys: set[str]) -> dict[str, int]:
    """Individuals per kept metric: current users from the counts per day, plus the deleted users
    still listed on ``on`` (credit.skills_report_cutoff)."""
    kept = set(db.session.execute(select(SkillingMetric.key).where(SkillingMetric.key.in_(keys))).scalars())
    if not kept:
        return {}
    counts = dict.fromkeys(kept, 0)
    current = (select(SkillingCount.metric_key, func.sum(SkillingCount.individuals))
               .where(SkillingCount.organization_id == organization_id, SkillingCount.metric_key.in_(kept),
                      SkillingCount.credit_on <= on)
               .group_by(SkillingCount.metric_key))
    deleted = (select(SkillingUserMetric.metric_key, func.count())
               .join(WorkUser, WorkUser.id == SkillingUserMetric.work_user_id)
               .where(SkillingUserMetric.organization_id == organization_id,
                      SkillingUserMetric.counted.is_(False), SkillingUserMetric.metric_key.in_(kept),
                      SkillingUserMetric.credit_on <= on, WorkUser.deleted_at >= skills_report_cutoff(on))
               .group_by(SkillingUserMetric.metric_key))
    for statement in (current, deleted):
        for key, individuals in db.session.execute(statement):
            counts[key] += int(individuals or 0)
    return counts


def _straight_counts(organization_id: int, on: date, metrics: list[list[str]]) -> list[int]:
    """Individuals per metric counted from the achievements (a flag per metric for each
    individual, then the flags summed)."""
    all_codes = sorted({code for codes in metrics for code in codes})
    flags = [func.max(case((Achievement.code.in_(codes), 1), else_=0)).label(f"m{n}")
             for n, codes in enumerate(metrics)]
    per_individual = (
        select(*flags).select_from(Achievement)
        .join(LinkedAccount, LinkedAccount.id == Achievement.link_id)
        .join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
        .where(Achievement.organization_id == organization_id, Achievement.kind == "certification",
               Achievement.code.in_(all_codes), Achievement.credit_on <= on, reportable_link_clause(on))
        .group_by(Achievement.work_user_id).subquery())
    counts = db.session.execute(select(*[func.coalesce(func.sum(c), 0) for c in per_individual.c])).one()
    return [int(c or 0) for c in counts]
