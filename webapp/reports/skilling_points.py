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
from .credit import reportable_link_clause

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

    One query: a flag per metric for each individual (grouped in the index's user order, so no
    DISTINCT sets are built), then the flags summed.
    """
    on = on or today()
    config = config or skilling_points_config()
    all_codes = sorted({code for area in config["solution_areas"] for level in SKILLING_LEVELS
                        for code in area[level]["certifications"]})
    flags = []
    for area in config["solution_areas"]:
        for level in SKILLING_LEVELS:
            codes = area[level]["certifications"]
            flags.append(func.max(case((Achievement.code.in_(codes), 1), else_=0)).label(f"m{len(flags)}"))
    per_individual = (
        select(*flags).select_from(Achievement)
        .join(LinkedAccount, LinkedAccount.id == Achievement.link_id)
        .join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
        .where(Achievement.organization_id == organization_id, Achievement.kind == "certification",
               Achievement.code.in_(all_codes), Achievement.credit_on <= on, reportable_link_clause(on))
        .group_by(Achievement.work_user_id).subquery())
    counts = db.session.execute(select(*[func.coalesce(func.sum(c), 0) for c in per_individual.c])).one()
    result, position = [], 0
    for area in config["solution_areas"]:
        metrics = []
        for level in SKILLING_LEVELS:
            spec = area[level]
            individuals = int(counts[position] or 0)
            position += 1
            metrics.append(MetricPoints(level, list(spec["certifications"]), individuals,
                                        int(spec["threshold"]), float(spec["max_points"]),
                                        metric_points(individuals, int(spec["threshold"]),
                                                      float(spec["max_points"]))))
        result.append(AreaPoints(area["key"], area["name"], metrics))
    return result
