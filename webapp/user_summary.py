"""What the report pages count per work user, kept on the user: WorkUser.link_flags (the providers
of the active links), WorkUser.active_items (the achievements on those links) and
WorkUser.last_credit_on (the latest credit date of those achievements).

Recounted from linked_accounts and achievements for every user whose links a flush inserts,
changes or deletes (every link change goes through the ORM: webapp/linking/service.py, the
fixtures, the demo), and for the users whose achievements the refresh's merge changed
(reports/merge.py), in that change's transaction: the columns always equal a straight count.
The Skilling points' counts (webapp/skilling_summary.py) are recounted with them, and when a user
is deleted.
"""
from __future__ import annotations

from itertools import chain

from sqlalchemy import case, event, func, inspect, select, update
from sqlalchemy.orm import Session

from .models import (LEARN, LINK_FLAG_LEARN, LINK_FLAG_UNIVERSITY, PARTNER_UNIVERSITY, Achievement,
                     LinkedAccount, WorkUser)
from .skilling_summary import recount_skilling


def _recounts() -> dict:
    """The columns of the work user of the enclosing UPDATE, counted from their active links."""
    flag = case((LinkedAccount.provider == LEARN, LINK_FLAG_LEARN),
                (LinkedAccount.provider == PARTNER_UNIVERSITY, LINK_FLAG_UNIVERSITY), else_=0)
    active = (LinkedAccount.work_user_id == WorkUser.id, LinkedAccount.ended_at.is_(None))
    return {
        "link_flags": select(func.coalesce(func.sum(flag), 0)).where(*active).scalar_subquery(),
        "active_items": (select(func.count()).select_from(Achievement)
                         .join(LinkedAccount, LinkedAccount.id == Achievement.link_id)
                         .where(Achievement.work_user_id == WorkUser.id, *active).scalar_subquery()),
        "last_credit_on": (select(func.max(Achievement.credit_on)).select_from(Achievement)
                           .join(LinkedAccount, LinkedAccount.id == Achievement.link_id)
                           .where(Achievement.work_user_id == WorkUser.id, *active).scalar_subquery()),
    }


def recount_users(connection, where) -> None:
    """Recount the summary columns of the work users ``where`` selects."""
    # The rows locked first: on PostgreSQL the recount then starts after any other transaction
    # recounting these users has committed, and counts what that one wrote.
    connection.execute(select(WorkUser.id).where(where).order_by(WorkUser.id).with_for_update()).all()
    connection.execute(update(WorkUser).where(where).values(**_recounts()))
    recount_skilling(connection, where)


@event.listens_for(Session, "after_flush")
def _recount_after_link_changes(session, _flush_context) -> None:
    # new/dirty/deleted still hold what this flush wrote.
    users = {obj.work_user_id for obj in chain(session.new, session.dirty, session.deleted)
             if isinstance(obj, LinkedAccount) and obj.work_user_id is not None}
    # A user deleted (or restored) leaves or rejoins the Skilling counts of current users.
    users |= {obj.id for obj in session.dirty
              if isinstance(obj, WorkUser) and obj.id is not None
              and inspect(obj).attrs.deleted_at.history.has_changes()}
    if users:
        recount_users(session.connection(), WorkUser.id.in_(sorted(users)))
