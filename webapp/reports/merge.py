"""The refresh's database side: transcripts read page by page are staged (``refresh_staged_items``,
committed with the job's progress), then each provider's staged rows are merged into
``achievements`` with three set statements in one transaction. Python holds one page at a time,
whatever the number of users, and a provider whose pages are not all read is never merged."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, insert, literal, or_, select, update

from ..extensions import db
from ..models import Achievement, LinkedAccount, RefreshStagedItem as Staged, WorkUser
from ..user_summary import recount_users
from .credit import credit_date
from .transcripts import TranscriptEntry


MERGE_LINKS = 10_000


@dataclass
class MergeCounts:
    added: int = 0
    updated: int = 0
    removed: int = 0


def stage(job_id: int, provider: str, links: list[LinkedAccount],
          fetched: dict[int, list[TranscriptEntry]]) -> None:
    """Add one page of read transcripts to the job's staged rows (the caller commits)."""
    rows = []
    for link in links:
        seen = set()
        for entry in fetched.get(link.id, []):
            if entry.item_id in seen:
                continue
            seen.add(entry.item_id)
            rows.append({"job_id": job_id, "provider": provider, "link_id": link.id,
                         "item_id": entry.item_id, "kind": entry.kind, "code": entry.code,
                         "title": entry.title, "level": entry.level,
                         "completed_on": entry.completed_on,
                         "credit_on": credit_date(entry.completed_on, link.linked_at)})
    if rows:
        # Core's executemany on the table: the ORM's bulk insert sent one statement per row here.
        db.session.connection().execute(Staged.__table__.insert(), rows)


def drop_staged(job_id: int, provider: str | None = None) -> None:
    stmt = delete(Staged).where(Staged.job_id == job_id)
    if provider is not None:
        stmt = stmt.where(Staged.provider == provider)
    db.session.execute(stmt.execution_options(synchronize_session=False))


def merge_provider(job_id: int, provider: str, organization_id: int, changed_at: datetime,
                   work_user_id: int | None = None) -> MergeCounts:
    """Make the scope's achievements of ``provider`` what the job staged (the caller commits).

    The scope is the organization's achievements of that provider (or one user's): a row no staged
    item matches is removed (item gone from the transcript, link no longer reportable), a staged
    item that differs updates its row, a new one is added. The statements run per range of
    ``MERGE_LINKS`` link ids, in the same transaction: SQLite builds an INSERT … SELECT's rows
    (and an UPDATE … FROM's) in memory first, which at 500,000 rows was +180 MB.
    """
    scope = and_(Achievement.organization_id == organization_id, Achievement.provider == provider)
    if work_user_id is not None:
        scope = and_(scope, Achievement.work_user_id == work_user_id)
    staged = and_(Staged.job_id == job_id, Staged.provider == provider)
    bounds = [*db.session.execute(select(func.min(Achievement.link_id), func.max(Achievement.link_id))
                                  .where(scope)).one(),
              *db.session.execute(select(func.min(Staged.link_id), func.max(Staged.link_id))
                                  .where(staged)).one()]
    counts = MergeCounts()
    if all(b is None for b in bounds):
        return counts
    low, high = min(b for b in bounds if b is not None), max(b for b in bounds if b is not None)
    for first in range(low, high + 1, MERGE_LINKS):
        last = first + MERGE_LINKS - 1
        before = (counts.added, counts.updated, counts.removed)
        _merge_range(and_(scope, Achievement.link_id.between(first, last)),
                     and_(staged, Staged.link_id.between(first, last)), changed_at, counts)
        if (counts.added, counts.updated, counts.removed) != before:
            users = select(LinkedAccount.work_user_id).where(LinkedAccount.id.between(first, last))
            if work_user_id is not None:
                users = users.where(LinkedAccount.work_user_id == work_user_id)
            recount_users(db.session.connection(), WorkUser.id.in_(users))
    drop_staged(job_id, provider)
    return counts


def _merge_range(scope, staged, changed_at: datetime, counts: MergeCounts) -> None:
    same_item = and_(Staged.link_id == Achievement.link_id, Staged.item_id == Achievement.item_id)
    differs = or_(Staged.kind != Achievement.kind, Staged.code.is_distinct_from(Achievement.code),
                  Staged.title != Achievement.title, Staged.level.is_distinct_from(Achievement.level),
                  Staged.completed_on != Achievement.completed_on,
                  Staged.credit_on != Achievement.credit_on)

    gone = and_(scope, ~exists().where(staged, same_item))
    removed = db.session.scalar(select(func.count()).select_from(Achievement).where(gone))
    if removed:
        db.session.execute(delete(Achievement).where(gone).execution_options(synchronize_session=False))

    updated = db.session.scalar(select(func.count()).select_from(Achievement).where(
        scope, exists().where(staged, same_item, differs)))
    if updated:
        db.session.execute(
            update(Achievement).where(scope, staged, same_item, differs)
            .values(kind=Staged.kind, code=Staged.code, title=Staged.title, level=Staged.level,
                    completed_on=Staged.completed_on, credit_on=Staged.credit_on, changed_at=changed_at)
            .execution_options(synchronize_session=False))

    new_rows = (select(LinkedAccount.work_user_id, Staged.link_id, LinkedAccount.organization_id,
                       Staged.provider, Staged.item_id, Staged.kind, Staged.code, Staged.title,
                       Staged.level, Staged.completed_on, Staged.credit_on,
                       literal(changed_at, Achievement.changed_at.type))
                .join(LinkedAccount, LinkedAccount.id == Staged.link_id)
                .where(staged, ~exists().where(Achievement.link_id == Staged.link_id,
                                                Achievement.item_id == Staged.item_id)))
    # Counted first: the driver's rowcount of an INSERT … SELECT is not reliable on every database.
    added = db.session.scalar(select(func.count()).select_from(new_rows.subquery()))
    if added:
        db.session.execute(insert(Achievement).from_select(
            ["work_user_id", "link_id", "organization_id", "provider", "item_id", "kind", "code", "title",
             "level", "completed_on", "credit_on", "changed_at"], new_rows))
    counts.added += added
    counts.updated += updated
    counts.removed += removed
