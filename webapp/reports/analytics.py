"""Learn analytics: every current work user with their link status and credited / pending counts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, select

from ..clock import today
from ..extensions import db
from ..models import (LEARN, LINK_FLAG_LEARN, LINK_FLAG_UNIVERSITY, PARTNER_UNIVERSITY, Achievement,
                      LinkedAccount, WorkUser)
from ..pagination import Page, page_number
from .skills_report import REPORT_PAGE_SIZE

LINK_STATUS_NONE = "not_linked"
LINK_STATUS_LEARN = "learn"
LINK_STATUS_UNIVERSITY = "partner_university"
LINK_STATUS_BOTH = "both"


@dataclass
class AnalyticsRow:
    user_id: int
    email: str
    display_name: str
    status: str
    credited: int
    pending: int


def link_status(has_learn: bool, has_university: bool) -> str:
    if has_learn and has_university:
        return LINK_STATUS_BOTH
    if has_learn:
        return LINK_STATUS_LEARN
    if has_university:
        return LINK_STATUS_UNIVERSITY
    return LINK_STATUS_NONE


def _analytics_select(organization_id: int, on: date):
    is_learn = case((LinkedAccount.provider == LEARN, 1), else_=0)
    is_university = case((LinkedAccount.provider == PARTNER_UNIVERSITY, 1), else_=0)
    credited = case((Achievement.credit_on <= on, 1), else_=0)
    pending = case((Achievement.credit_on > on, 1), else_=0)
    return (
        select(WorkUser.id, WorkUser.email, WorkUser.display_name,
               func.max(is_learn).label("learn"), func.max(is_university).label("university"),
               func.coalesce(func.sum(credited), 0).label("credited"),
               func.coalesce(func.sum(pending), 0).label("pending"))
        .select_from(WorkUser)
        .outerjoin(LinkedAccount, and_(LinkedAccount.work_user_id == WorkUser.id,
                                       LinkedAccount.ended_at.is_(None)))
        .outerjoin(Achievement, Achievement.link_id == LinkedAccount.id)
        .where(WorkUser.organization_id == organization_id, WorkUser.deleted_at.is_(None))
        .group_by(WorkUser.id, WorkUser.email, WorkUser.display_name)
    )


def learn_analytics_page(organization_id: int, page: int = 1, per_page: int = REPORT_PAGE_SIZE,
                         on: date | None = None) -> tuple[Page, dict[str, int]]:
    """Every current work user with link status and credited/pending counts, plus org-wide totals.

    Four queries whatever the size: users and items per link status, pending items, the page's
    users (in email order from the index), and their counts.
    """
    on = on or today()
    current_users = (WorkUser.organization_id == organization_id, WorkUser.deleted_at.is_(None))
    # Users per link status and the items on their active links, from WorkUser.link_flags and
    # WorkUser.active_items (the covering index ix_work_users_org_deleted_links); of those items,
    # the pending ones (credited in the next ten days) through the few users whose
    # WorkUser.last_credit_on is ahead (ix_work_users_org_deleted_credit).
    totals = {LINK_STATUS_NONE: 0, LINK_STATUS_LEARN: 0, LINK_STATUS_UNIVERSITY: 0, LINK_STATUS_BOTH: 0}
    item_total = 0
    for flags, users, user_items in db.session.execute(
            select(WorkUser.link_flags, func.count(), func.sum(WorkUser.active_items))
            .where(*current_users).group_by(WorkUser.link_flags)):
        totals[link_status(bool(flags & LINK_FLAG_LEARN), bool(flags & LINK_FLAG_UNIVERSITY))] += users
        item_total += int(user_items or 0)
    total = sum(totals.values())
    pending = db.session.scalar(
        select(func.count()).select_from(Achievement)
        .join(LinkedAccount, LinkedAccount.id == Achievement.link_id)
        .join(WorkUser, WorkUser.id == Achievement.work_user_id)
        .where(WorkUser.last_credit_on > on, Achievement.credit_on > on,
               LinkedAccount.ended_at.is_(None), *current_users)) or 0
    credited = item_total - pending

    page = page_number(page, total, per_page)
    page_users = db.session.execute(
        select(WorkUser.id, WorkUser.email, WorkUser.display_name).where(*current_users)
        .order_by(WorkUser.email).limit(per_page).offset((page - 1) * per_page)).all()
    counts = {}
    if page_users:
        counts = {r.id: r for r in db.session.execute(
            _analytics_select(organization_id, on).where(WorkUser.id.in_([u.id for u in page_users])))}
    items = []
    for user in page_users:
        r = counts.get(user.id)
        items.append(AnalyticsRow(user.id, user.email, user.display_name,
                                  link_status(bool(r and r.learn), bool(r and r.university)),
                                  int(r.credited) if r else 0, int(r.pending) if r else 0))
    return Page(items, page, per_page, total), {**totals, "credited": int(credited),
                                                       "pending": int(pending)}
