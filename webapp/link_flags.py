"""WorkUser.link_flags: which providers a work user has an active link with.

Recounted from linked_accounts for every user whose links a flush inserts, changes or deletes,
in that flush's transaction, so the column always equals a straight count of the active links
(every link change goes through the ORM: webapp/linking/service.py, the fixtures, the demo).
"""
from __future__ import annotations

from itertools import chain

from sqlalchemy import case, event, func, select, update
from sqlalchemy.orm import Session

from .models import LEARN, LINK_FLAG_LEARN, LINK_FLAG_UNIVERSITY, PARTNER_UNIVERSITY, LinkedAccount, WorkUser


def link_flags_recount():
    """The flags of the work user of the enclosing statement, counted from their active links."""
    flag = case((LinkedAccount.provider == LEARN, LINK_FLAG_LEARN),
                (LinkedAccount.provider == PARTNER_UNIVERSITY, LINK_FLAG_UNIVERSITY), else_=0)
    return (select(func.coalesce(func.sum(flag), 0))
            .where(LinkedAccount.work_user_id == WorkUser.id, LinkedAccount.ended_at.is_(None))
            .scalar_subquery())


def recount_link_flags(connection, user_ids) -> None:
    connection.execute(update(WorkUser).where(WorkUser.id.in_(sorted(user_ids)))
                       .values(link_flags=link_flags_recount()))


@event.listens_for(Session, "after_flush")
def _recount_after_link_changes(session, _flush_context) -> None:
    # new/dirty/deleted still hold what this flush wrote.
    users = {obj.work_user_id for obj in chain(session.new, session.dirty, session.deleted)
             if isinstance(obj, LinkedAccount) and obj.work_user_id is not None}
    if users:
        recount_link_flags(session.connection(), users)
