"""Associate a personal learning account with a work user, or remove it: each in one transaction.

The rules themselves are in rules.py; this module reads what they need from the database,
applies them, and writes the link, the ended links and the audit events together.
"""
from __future__ import annotations

import random
import time
from datetime import datetime
from functools import cache

from flask_babel import gettext as _
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from ..audit.service import AUDIT_LINK_ADDED, AUDIT_LINK_MOVED, AUDIT_LINK_REMOVED, record_audit
from ..clock import now
from ..extensions import db
from ..models import (END_REASON_MOVED, END_REASON_MOVED_USER, END_REASON_REMOVED, LEARN,
                      LearningIdentity, LinkedAccount, WorkUser)
from .rules import (ASSOCIATIONS_PER_WINDOW, LinkRefused, PersonalAccount, check_learn_prerequisites,
                    identity_key_for, limit_message, next_association_date, provider_label)

# Links that ended because the account was associated elsewhere.
MOVED_REASONS = (END_REASON_MOVED, END_REASON_MOVED_USER)

# A locked SQLite database or a PostgreSQL deadlock is retried this many times, then refused.
DB_BUSY_ATTEMPTS = 4


def association_starts(identity_id: int) -> list[datetime]:
    """Start dates of the newest associations of one individual, newest first: the
    ASSOCIATIONS_PER_WINDOW newest, all that next_association_date looks at."""
    return list(db.session.scalars(_association_starts_stmt(), {"identity_id": identity_id}))


@cache
def _association_starts_stmt():
    # Built once: My Learn profile reads it on every view (see profile/service.py for the figure).
    return (select(LinkedAccount.linked_at).where(LinkedAccount.identity_id == bindparam("identity_id"))
            .order_by(LinkedAccount.linked_at.desc()).limit(ASSOCIATIONS_PER_WINDOW))


def active_link(work_user: WorkUser, provider: str) -> LinkedAccount | None:
    return db.session.scalar(select(LinkedAccount).where(
        LinkedAccount.work_user_id == work_user.id, LinkedAccount.provider == provider,
        LinkedAccount.ended_at.is_(None)))


def _get_or_create_identity(provider: str, key: str) -> LearningIdentity:
    query = select(LearningIdentity).where(LearningIdentity.provider == provider,
                                           LearningIdentity.identity_key == key)
    identity = db.session.scalar(query)
    if identity is not None:
        return identity
    try:
        with db.session.begin_nested():
            identity = LearningIdentity(provider=provider, identity_key=key, association_count=0)
            db.session.add(identity)
    except IntegrityError:  # created by a concurrent flow a moment ago
        identity = db.session.scalar(query)
    return identity


def associate_account(work_user: WorkUser, account: PersonalAccount,
                      at: datetime | None = None, address: str | None = None) -> LinkedAccount:
    """Link a personal learning account to a work user, applying every rule, in one transaction.

    ``at`` is the moment of the association (default: ``now()``); the demo data uses it to
    record past associations through the same rules. Raises LinkRefused (and writes
    nothing) when a rule says no. ``address`` is the request's, for the audit log.
    """
    for attempt in range(1, DB_BUSY_ATTEMPTS + 1):
        try:
            return _associate_once(work_user, account, at, address)
        except OperationalError:
            # "database is locked" (SQLite) or a deadlock (PostgreSQL): nothing was written;
            # try the whole decision again on fresh data, then give a clean refusal.
            db.session.rollback()
            if attempt == DB_BUSY_ATTEMPTS:
                raise LinkRefused("busy", _(
                    "Partner Center is busy and could not record the association. Nothing was "
                    "linked; please try again in a moment."))
            time.sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")


def _associate_once(work_user: WorkUser, account: PersonalAccount,
                    at: datetime | None, address: str | None) -> LinkedAccount:
    try:
        if work_user.deleted_at is not None:
            raise LinkRefused("user_deleted", _(
                "This work account was deleted; it cannot link learning accounts."))
        check_learn_prerequisites(account)
        key = identity_key_for(account)
        existing = active_link(work_user, account.provider)
        if existing is not None:
            same_account = existing.issuer == account.issuer and existing.subject == account.subject
            if same_account or existing.identity.identity_key == key:
                # Signing in again with what is already linked changes nothing and does not count.
                raise LinkRefused("already_linked", _(
                    "This %(provider)s account is already linked to your work account.",
                    provider=provider_label(account.provider)))
            raise LinkRefused("one_per_user", _(
                "Your work account is already linked to the %(provider)s account %(email)s. "
                "One %(provider)s account can be linked per work account: select Remove access "
                "first, then associate the other one.",
                provider=provider_label(account.provider), email=existing.email))

        identity = _get_or_create_identity(account.provider, key)
        seen_count = identity.association_count
        current = at or now()
        next_date, reason = next_association_date(association_starts(identity.id), current.date())
        if next_date is not None:
            raise LinkRefused(reason, limit_message(reason, next_date), next_date)

        # Compare-and-set on the individual's counter: of two completions racing for the same
        # MCID only one can move it from the value both read; the other is refused.
        bumped = db.session.execute(
            update(LearningIdentity)
            .where(LearningIdentity.id == identity.id, LearningIdentity.association_count == seen_count)
            .values(association_count=seen_count + 1)
            .execution_options(synchronize_session=False)).rowcount
        if bumped != 1:
            raise LinkRefused("concurrent", _(
                "Another association of this account was completed at the same moment. "
                "Reload your profile to see it."))

        # An MCID belongs to one organization (and one work user) at a time: end the others.
        others = select(LinkedAccount).where(
            LinkedAccount.ended_at.is_(None),
            or_(LinkedAccount.identity_id == identity.id,
                (LinkedAccount.issuer == account.issuer) & (LinkedAccount.subject == account.subject)))
        for other in db.session.scalars(others):
            same_org = other.organization_id == work_user.organization_id
            other.ended_at = current
            other.end_reason = END_REASON_MOVED_USER if same_org else END_REASON_MOVED
            # The old organization learns that the account moved, not who it moved to.
            record_audit(AUDIT_LINK_MOVED, organization_id=other.organization_id,
                         actor=work_user if same_org else None,
                         actor_email=None if same_org else "",
                         target=_audit_target(other), address=address,
                         detail={"from_user": other.work_user.email,
                                 "to": work_user.email if same_org else "another organization"})
        # The ended rows must be written before the new active row, or the partial unique
        # indexes would see two active links for one identity.
        db.session.flush()

        link = LinkedAccount(
            work_user_id=work_user.id, organization_id=work_user.organization_id,
            identity_id=identity.id, provider=account.provider, issuer=account.issuer,
            subject=account.subject, email=account.email, display_name=account.display_name,
            mcid=account.mcid if account.provider == LEARN else None, linked_at=current,
        )
        db.session.add(link)
        record_audit(AUDIT_LINK_ADDED, organization_id=work_user.organization_id, actor=work_user,
                     target=_audit_target(link), address=address,
                     detail={"provider": link.provider, "email": link.email, "subject": link.subject})
        db.session.commit()
        return link
    except LinkRefused:
        db.session.rollback()
        raise
    except IntegrityError:
        # A unique index caught a race the counter did not (e.g. two identities, one user).
        db.session.rollback()
        raise LinkRefused("concurrent", _(
            "Another association was completed at the same moment. Reload your profile to see it."))


def _audit_target(link: LinkedAccount) -> str:
    return f"{link.provider} {link.mcid or link.email}"


def remove_link(work_user: WorkUser, provider: str, address: str | None = None) -> LinkedAccount | None:
    """End the user's active link for a provider; history keeps the row with its end date."""
    link = active_link(work_user, provider)
    if link is None:
        return None
    link.ended_at = now()
    link.end_reason = END_REASON_REMOVED
    record_audit(AUDIT_LINK_REMOVED, organization_id=link.organization_id, actor=work_user,
                 target=_audit_target(link), address=address,
                 detail={"provider": provider, "email": link.email})
    db.session.commit()
    return link
