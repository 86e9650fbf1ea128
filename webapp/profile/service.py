"""What My Learn profile shows for each provider: the active link, recent history, next date."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from sqlalchemy import bindparam, func, select, union_all

from ..clock import today
from ..extensions import db
from ..linking.rules import next_association_date
from ..linking.service import MOVED_REASONS, association_starts
from ..models import PROVIDERS, LinkedAccount, WorkUser

# My Learn profile lists the newest ended associations only: a QA account linked thousands of
# times must not make every page view render (and query) its whole history.
PROFILE_HISTORY_SHOWN = 10

# The page's statements are built once per process (``@cache``, values as bind parameters):
# building them on each view made GET /profile cost 5.1 instead of 3.1 ms of CPU in-process,
# and under `bench/run.sh --only latency` 8.7 instead of 4.9 ms/request (116 vs 318 req/s).


@dataclass
class ProfileSection:
    provider: str
    link: LinkedAccount | None
    history: list[LinkedAccount]  # ended associations, newest first, at most PROFILE_HISTORY_SHOWN
    # First day a new association is allowed (today when nothing blocks it), and the limit
    # that sets it ("cool_off", "yearly_cap", or None when nothing blocks).
    next_date: date
    next_reason: str | None
    # The personal account whose limits set next_date (limits are per individual account: a
    # different account may be linked sooner); None when this user never linked one.
    next_account: str | None = None
    history_total: int = 0  # every ended association
    # The other organization's (or work account's) link that this active link replaced.
    moved_from: LinkedAccount | None = None
    # The latest link of this user that ended because the account moved elsewhere, when the
    # user has no active link now.
    moved_away: LinkedAccount | None = None


def replaced_link(link: LinkedAccount) -> LinkedAccount | None:
    """The link (elsewhere) that this association ended by moving the account here."""
    return db.session.scalar(_replaced_link_stmt(), {
        "identity_id": link.identity_id, "link_id": link.id, "linked_at": link.linked_at})


@cache
def _replaced_link_stmt():
    return select(LinkedAccount).where(
        LinkedAccount.identity_id == bindparam("identity_id"),
        LinkedAccount.id != bindparam("link_id"),
        LinkedAccount.end_reason.in_(MOVED_REASONS),
        LinkedAccount.ended_at == bindparam("linked_at"),
    ).order_by(LinkedAccount.id.desc()).limit(1)


def _recent_links(work_user: WorkUser) -> list[LinkedAccount]:
    return list(db.session.scalars(_recent_links_stmt(), {"work_user_id": work_user.id}))


@cache
def _recent_links_stmt():
    """Per provider: the active link, and the newest ended ones (at most PROFILE_HISTORY_SHOWN),
    newest first. Each part walks ix_links_user_provider_linked backwards and stops at its LIMIT."""
    parts = []
    for provider in PROVIDERS:
        of_provider = select(LinkedAccount.id).where(
            LinkedAccount.work_user_id == bindparam("work_user_id"), LinkedAccount.provider == provider)
        parts.append(of_provider.where(LinkedAccount.ended_at.is_(None)))
        parts.append(of_provider.where(LinkedAccount.ended_at.is_not(None))
                     .order_by(LinkedAccount.linked_at.desc(), LinkedAccount.id.desc())
                     .limit(PROFILE_HISTORY_SHOWN))
    # Each part in its own subquery: SQLite refuses ORDER BY/LIMIT inside a compound SELECT.
    ids = union_all(*(select(part.subquery().c.id) for part in parts))
    return (select(LinkedAccount).where(LinkedAccount.id.in_(ids))
            .order_by(LinkedAccount.provider, LinkedAccount.linked_at.desc(), LinkedAccount.id.desc()))


def profile_sections(work_user: WorkUser) -> dict[str, ProfileSection]:
    """What My Learn profile shows for each provider, including the next association date.

    The cost does not grow with the history (QA accounts link thousands of times): per
    provider, the active link and the newest ended ones are index walks with a LIMIT, the count
    of ended ones is read only when the history is longer than what the page shows, and the
    next dates need only the newest association starts.
    """
    links: dict[str, LinkedAccount] = {}
    history: dict[str, list[LinkedAccount]] = {provider: [] for provider in PROVIDERS}
    for link in _recent_links(work_user):
        if link.ended_at is None:
            links[link.provider] = link
        else:
            history.setdefault(link.provider, []).append(link)
    totals = {provider: len(rows) for provider, rows in history.items()}
    if any(len(rows) >= PROFILE_HISTORY_SHOWN for rows in history.values()):
        # Counted in the index alone (work_user_id, provider, ...).
        for provider, count in db.session.execute(
                select(LinkedAccount.provider, func.count())
                .where(LinkedAccount.work_user_id == work_user.id).group_by(LinkedAccount.provider)):
            if provider in totals:
                totals[provider] = count - (1 if provider in links else 0)
    # The limits follow the individual, so use the most recent identity this user linked.
    newest = {provider: max((row for row in (links.get(provider), (history[provider] or [None])[0])
                             if row is not None), key=lambda row: row.linked_at, default=None)
              for provider in history}
    starts = {row.identity_id: association_starts(row.identity_id)
              for row in newest.values() if row is not None}
    sections = {}
    for provider, rows in history.items():
        next_date = reason = None
        if newest[provider] is not None:
            next_date, reason = next_association_date(starts[newest[provider].identity_id], today())
        link = links.get(provider)
        moved_away = rows[0] if link is None and rows and rows[0].end_reason in MOVED_REASONS else None
        sections[provider] = ProfileSection(
            provider, link, rows, next_date or today(), reason,
            newest[provider].email if newest[provider] is not None else None, totals[provider],
            moved_from=replaced_link(link) if link else None, moved_away=moved_away)
    return sections


def profile_section(work_user: WorkUser, provider: str) -> ProfileSection:
    return profile_sections(work_user)[provider]
