"""Organizations and work accounts: creating them (the CLI, the demo seed, user administration)
and the rules of a work email address (one spelling, no look-alikes; see work_emails.py)."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import work_emails
from .audit.service import AUDIT_USER_CREATED, record_audit
from .auth.service import hash_password
from .clock import now
from .extensions import db
from .models import LANGUAGES, ROLES, Organization, WorkUser
from .validation import FieldErrors, ValidationError

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create_organization(name: str, partner_id: str) -> Organization:
    name, partner_id = (name or "").strip(), (partner_id or "").strip()
    if not name:
        raise ValidationError(_("Enter the organization's name."))
    if not partner_id:
        raise ValidationError(_("Enter the partner ID."))
    if db.session.scalar(select(Organization).where(Organization.partner_id == partner_id)):
        raise ValidationError(_("An organization with partner ID %(id)s already exists.", id=partner_id))
    org = Organization(name=name, partner_id=partner_id, created_at=now())
    db.session.add(org)
    db.session.commit()
    return org


def create_work_user(organization: Organization, email: str, display_name: str,
                     password: str, roles: list[str] | tuple[str, ...] = (),
                     actor: WorkUser | None = None, address: str | None = None) -> WorkUser:
    """Create a work account, as a Global admin or Account admin does in Partner Center.

    ``actor`` is the admin who creates it (None: the command line or the demo seed), ``address``
    their request's, for the audit log."""
    problems: list[ValidationError] = []

    def check(rule) -> None:
        try:
            rule()
        except ValidationError as exc:
            problems.append(exc)

    def check_email() -> None:
        nonlocal email
        email = normalize_email(email)
        if not EMAIL_RE.match(email) or len(email) > 254:
            raise ValidationError(_("Enter a valid work email address."), "email")
        refuse_look_alike_email(email)

    # Every field is checked, so a form shows all of its errors after one submit.
    check(check_email)
    check(lambda: _check_display_name(display_name))
    check(lambda: _check_password(password))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        problems.append(ValidationError(_("Unknown role: %(role)s", role=", ".join(unknown)), "roles"))
    if problems:
        raise FieldErrors(problems)
    display_name = display_name.strip()
    # A deleted account with this email keeps its row (history, Skills report removal date): a
    # rehire is a new work user, a new person record. Only a current account blocks the email.
    existing = db.session.scalar(select(WorkUser.id).where(WorkUser.email == email,
                                                           WorkUser.deleted_at.is_(None)))
    if existing is not None:
        raise ValidationError(_("A work account with the email %(email)s already exists.",
                                email=email), "email")
    user = WorkUser(
        organization=organization, email=email, display_name=display_name,
        password_hash=hash_password(password), roles=" ".join(roles), created_at=now(),
    )
    db.session.add(user)
    record_audit(AUDIT_USER_CREATED, organization_id=organization.id, target=email, actor=actor,
                 address=address, detail={"roles": list(roles)})
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent creation of the same email
        db.session.rollback()
        raise ValidationError(_("A work account with the email %(email)s already exists.",
                                email=email), "email")
    return user


def _check_display_name(display_name: str | None) -> None:
    display_name = (display_name or "").strip()
    if not display_name:
        raise ValidationError(_("Enter a display name."), "display_name")
    if len(display_name) > 200:
        raise ValidationError(_("The display name can have at most 200 characters."), "display_name")


def _check_password(password: str | None) -> None:
    if len(password or "") < 8:
        raise ValidationError(_("The password must have at least 8 characters."), "password")
    if len(password) > 1024:
        raise ValidationError(_("The password can have at most 1024 characters."), "password")


def normalize_email(email: str | None) -> str:
    """One spelling per address (see work_emails); an invisible character is refused."""
    email = work_emails.normalize(email)
    if work_emails.has_invisible_character(email):
        raise ValidationError(_("The email address contains an invisible character (such as a "
                                "zero-width space). Type the address again."), "email")
    return email


def refuse_look_alike_email(email: str) -> None:
    """Refuse an address that mixes scripts in one part and looks like an existing address."""
    if not work_emails.mixes_scripts(email):
        return
    skeleton = work_emails.skeleton(email)
    if skeleton != email and db.session.scalar(
            select(WorkUser.id).where(WorkUser.email == skeleton).limit(1)) is not None:
        raise ValidationError(_("This address mixes letters of different alphabets (for example a "
                                "Cyrillic “о” among Latin letters) and looks like the address of an "
                                "existing work account. Type the address again with one alphabet."),
                              "email")


def set_preferred_language(work_user: WorkUser, language: str) -> None:
    """Remember the page language a work user chose; it applies again at their next sign-in."""
    if language not in LANGUAGES:
        raise ValidationError(_("Unknown language: %(language)s", language=language))
    if work_user.preferred_language != language:
        work_user.preferred_language = language
        db.session.commit()
