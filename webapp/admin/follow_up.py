"""The admin's follow-up of new work users ("The admin provided sign-in details for a work email
account to an individual user but they've had no response"): where each user stands, and a
ready-to-send reminder. The FAQ's answer: "The admin should first verify the email address used,
and then should contact the user to which the account information was provided."
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..linking.rules import provider_label
from ..models import PROVIDERS, LinkedAccount, Organization, WorkUser

NEVER_SIGNED_IN = "never_signed_in"
NOT_LINKED = "not_linked"
LINKED = "linked"
STATUSES = (NEVER_SIGNED_IN, NOT_LINKED, LINKED)


def status_label(status: str) -> str:
    return {NEVER_SIGNED_IN: _("Never signed in"), NOT_LINKED: _("Signed in, not linked"),
            LINKED: _("Linked")}[status]


def _has_active_link():
    # WorkUser.link_flags holds the providers of the active links (webapp/user_summary.py): the
    # filter reads it from the index instead of probing each user's links.
    return WorkUser.link_flags > 0


def status_filter(status: str):
    """The WHERE clause of one status (current users only)."""
    current = WorkUser.deleted_at.is_(None)
    if status == LINKED:
        return current & _has_active_link()
    signed_in = WorkUser.last_signed_in_at.is_not(None) if status == NOT_LINKED \
        else WorkUser.last_signed_in_at.is_(None)
    return current & signed_in & ~_has_active_link()


def linked_providers(user_ids: list[int]) -> dict[int, list[str]]:
    """The providers each user has an active link with (one query for a page of users)."""
    found: dict[int, list[str]] = {}
    if not user_ids:
        return found
    rows = db.session.execute(select(LinkedAccount.work_user_id, LinkedAccount.provider).where(
        LinkedAccount.work_user_id.in_(user_ids), LinkedAccount.ended_at.is_(None)))
    for user_id, provider in rows:
        found.setdefault(user_id, []).append(provider)
    return {uid: sorted(p, key=PROVIDERS.index) for uid, p in found.items()}


def user_status(user: WorkUser, providers: list[str]) -> str:
    if providers:
        return LINKED
    return NOT_LINKED if user.last_signed_in_at is not None else NEVER_SIGNED_IN


def providers_text(providers: list[str]) -> str:
    return ", ".join(provider_label(p) for p in providers)


def reminder_text(user: WorkUser, organization: Organization, sign_in_url: str, admin: WorkUser) -> str:
    """A reminder the admin copies into their own mail (no email server here)."""
    return _(
        "Hello %(name)s,\n\n"
        "You have a Partner Center work account: %(email)s. Please sign in at %(url)s with this "
        "work account and the password you were given, then open My Learn profile and link your "
        "learning accounts, so that %(org)s gets credit for your certifications, assessments and "
        "trainings:\n"
        "- Microsoft Learn: select \"Associate Microsoft Learning Account\" and sign in with the "
        "personal Microsoft account (MSA) of your Learn profile; your certification profile must have "
        "an MCID.\n"
        "- Partner University: select \"Get Partner University Access\" and sign in or sign up with "
        "your personal Partner University account.\n\n"
        "Only you can do this: due to privacy considerations, no admin can link on your behalf.\n\n"
        "%(admin)s",
        name=user.display_name, email=user.email, url=sign_in_url, org=organization.name,
        admin=admin.display_name)
