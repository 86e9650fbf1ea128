"""User administration: a Global admin or Account admin creates and deletes the work users of
their own organization and gives roles.

Privacy: no function here links or unlinks a learning account. Only the signed-in work user
starts, completes or removes a link (webapp/linking).
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from ..audit.service import AUDIT_USER_DELETED, record_audit
from ..clock import now
from ..extensions import db
from ..models import ROLE_GLOBAL_ADMIN, ROLES, WorkUser
from ..pagination import Page, page_number
from ..permissions import USER_ADMIN_REFUSED, can_administer_users
from ..users import create_work_user
from ..validation import ValidationError
from . import follow_up

USERS_PAGE_SIZE = 50


class NotPermitted(Exception):
    """The signed-in user's roles do not allow this action; the message is shown as is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _require_user_admin(actor: WorkUser) -> None:
    # The routes are guarded too (permissions.allowed); this keeps every caller honest.
    if not can_administer_users(actor):
        raise NotPermitted(str(USER_ADMIN_REFUSED))


def assignable_roles(actor: WorkUser) -> tuple[str, ...]:
    """Roles this admin may give: only a Global admin makes another Global admin."""
    if actor.has_role(ROLE_GLOBAL_ADMIN):
        return ROLES
    return tuple(r for r in ROLES if r != ROLE_GLOBAL_ADMIN)


def organization_users(actor: WorkUser, page: int = 1, per_page: int | None = None,
                       status: str | None = None) -> Page:
    """One page of the work users of the admin's own organization, active first, then deleted;
    ``status`` (follow_up.STATUSES) keeps the current users who stand there.

    Paginated: organizations have tens of thousands of users, and the page must not load them all.
    """
    _require_user_admin(actor)
    per_page = per_page or USERS_PAGE_SIZE
    in_org = WorkUser.organization_id == actor.organization_id
    if status is not None:
        in_org = in_org & follow_up.status_filter(status)
    total, deleted = db.session.execute(
        select(func.count(), func.count(WorkUser.deleted_at)).where(in_org)).one()
    page = page_number(page, total, per_page)
    # Current users, then deleted ones, each part in email order read from the index: one ORDER
    # BY over both sorted all 100,000 users for every page.
    current, start = total - deleted, (page - 1) * per_page
    users = []
    if start < current:
        users = list(db.session.scalars(
            select(WorkUser).where(in_org, WorkUser.deleted_at.is_(None)).order_by(WorkUser.email)
            .limit(per_page).offset(start)))
    if len(users) < per_page and deleted:
        users += db.session.scalars(
            select(WorkUser).where(in_org, WorkUser.deleted_at.is_not(None)).order_by(WorkUser.email)
            .limit(per_page - len(users)).offset(max(0, start - current)))
    return Page(users, page, per_page, total)


def organization_user(actor: WorkUser, user_id: int) -> WorkUser | None:
    """A work user of the admin's own organization by id; None for any other id."""
    _require_user_admin(actor)
    return db.session.scalar(select(WorkUser).where(
        WorkUser.id == user_id, WorkUser.organization_id == actor.organization_id))


def add_work_user(actor: WorkUser, email: str, display_name: str, password: str,
                  roles: list[str] | tuple[str, ...] = (), address: str = "") -> WorkUser:
    """An admin creates a work user in their own organization (see create_work_user)."""
    _require_user_admin(actor)
    refused = [r for r in roles if r in ROLES and r not in assignable_roles(actor)]
    if refused:
        raise ValidationError(_("Only a Global admin can give the Global admin role."), "roles")
    return create_work_user(actor.organization, email, display_name, password, roles, actor=actor,
                            address=address)


def deletion_refusal(actor: WorkUser, user: WorkUser) -> str | None:
    """Why ``actor`` may not delete ``user`` (shown on the confirmation step), or None."""
    if user.id == actor.id:
        return _("You cannot delete your own work account.")
    if user.organization_id != actor.organization_id:
        return _("You can only delete work users of your own organization.")
    if user.deleted_at is not None:
        return _("The work account %(email)s is already deleted.", email=user.email)
    if user.has_role(ROLE_GLOBAL_ADMIN) and not actor.has_role(ROLE_GLOBAL_ADMIN):
        return _("Only a Global admin can delete a Global admin.")
    return None


def delete_work_user(actor: WorkUser, user: WorkUser, address: str = "") -> WorkUser:
    """Delete a work account: it can no longer sign in and its sessions end at once.

    The row and its links stay as they are (history); the Skills report drops the user at its
    next refresh date (the 10th of the following month).
    """
    _require_user_admin(actor)
    refusal = deletion_refusal(actor, user)
    if refusal is not None:
        raise ValidationError(refusal)
    user.deleted_at = now()
    record_audit(AUDIT_USER_DELETED, organization_id=user.organization_id, actor=actor,
                 target=user.email, detail={"roles": user.role_list}, address=address)
    db.session.commit()
    return user
