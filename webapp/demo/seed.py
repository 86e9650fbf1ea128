"""Demo organizations, work users and links (the README's demo table is this data)."""
import hashlib
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from ..clock import now
from ..extensions import db
from ..linking.rules import LinkRefused, PersonalAccount
from ..linking.service import associate_account
from ..models import (LEARN, ROLE_ACCOUNT_ADMIN, ROLE_GLOBAL_ADMIN, ROLE_PARTNER_ADMIN, LinkedAccount,
                     Organization, WorkUser)
from ..users import create_organization, create_work_user

DEMO_PASSWORD = "Passw0rd!"

DEMO_ORGANIZATIONS = [
    {"name": "Contoso", "partner_id": "1234567"},
    {"name": "Fabrikam", "partner_id": "7654321"},
]

# (organization partner ID, email, display name, roles, what the account is for)
DEMO_WORK_USERS = [
    ("1234567", "gloria.global@contoso.com", "Gloria Global", [ROLE_GLOBAL_ADMIN], "Global admin of Contoso"),
    ("1234567", "aaron.account@contoso.com", "Aaron Account", [ROLE_ACCOUNT_ADMIN], "Account admin of Contoso"),
    ("1234567", "paula.partner@contoso.com", "Paula Partner", [ROLE_PARTNER_ADMIN], "Partner admin of Contoso"),
    ("1234567", "alex@contoso.com", "Alex Johnson", [], "links Learn as alex.learner@outlook.com (MCID)"),
    ("1234567", "nina@contoso.com", "Nina Novak", [], "Learn profile without MCID: refused with guidance"),
    ("1234567", "walt@contoso.com", "Walt Werner", [], "Learn sign-in with a work account: refused with guidance"),
    ("1234567", "mia@contoso.com", "Mia Moreau", [], "MCID moving from Contoso to Fabrikam"),
    ("1234567", "carl@contoso.com", "Carl Chen", [], "association cool-off"),
    ("1234567", "priya@contoso.com", "Priya Patel", [], "credit pending"),
    ("1234567", "pat@contoso.com", "Pat Lee", [], "links Partner University as pat.pu@outlook.com"),
    ("7654321", "frank.global@fabrikam.com", "Frank Global", [ROLE_GLOBAL_ADMIN], "Global admin of Fabrikam"),
    ("7654321", "mia@fabrikam.com", "Mia Moreau", [], "Mia's new employer"),
]


# Past associations that show each rule, in the order they happened:
# (work email, provider, personal account email, its name, MCID, days before now)
DEMO_LINKS = [
    # An MCID about to move: linked at Contoso, past the cool-off, so linking it at Fabrikam (the
    # trainer's story, live) ends the Contoso link.
    ("mia@contoso.com", LEARN, "mia.mover@outlook.com", "Mia Mover", "555000111", 40),
    # In the 30-day cool-off: a new association is refused until day 30.
    ("carl@contoso.com", LEARN, "carl.cooloff@outlook.com", "Carl Cooloff", "444000222", 10),
    # Linked a few days ago: credit for her completions is still pending.
    ("priya@contoso.com", LEARN, "priya.pending@outlook.com", "Priya Pending", "333000444", 3),
]


def demo_subject(issuer: str, email: str) -> str:
    """The provider's fixed ``sub`` for a demo account (same formula as idp_mock.demo.demo_subject;
    the two apps share no code)."""
    return hashlib.sha256(f"{issuer}:{email}".encode()).hexdigest()[:32]


def seed_demo_links() -> int:
    """Record the demo associations through the linking rules, dated in the past.

    A work user that already has any link history is left alone, so running it again
    changes nothing. Returns the number of links created.
    """
    issuer_base = current_app.config["IDP_PUBLIC_URL"].rstrip("/")
    created = 0
    for work_email, provider, email, name, mcid, days_ago in DEMO_LINKS:
        user = db.session.scalar(select(WorkUser).where(WorkUser.email == work_email))
        if user is None or db.session.scalar(
                select(LinkedAccount.id).where(LinkedAccount.work_user_id == user.id).limit(1)):
            continue
        account = PersonalAccount(
            provider=provider, issuer=f"{issuer_base}/{provider}", subject=demo_subject(provider, email),
            email=email, display_name=name, mcid=mcid)
        try:
            associate_account(user, account, at=now() - timedelta(days=days_ago))
        except LinkRefused:
            continue  # e.g. the data was changed by hand since: leave it as it is
        created += 1
    return created


def seed_demo(with_links: bool = True) -> dict:
    """Create the demo organizations, users and links; running it again changes nothing."""
    created = {"organizations": 0, "work_users": 0, "links": 0}
    orgs = {}
    for spec in DEMO_ORGANIZATIONS:
        org = db.session.scalar(select(Organization).where(Organization.partner_id == spec["partner_id"]))
        if org is None:
            org = create_organization(spec["name"], spec["partner_id"])
            created["organizations"] += 1
        orgs[spec["partner_id"]] = org
    for partner_id, email, name, roles, _purpose in DEMO_WORK_USERS:
        if db.session.scalar(select(WorkUser.id).where(WorkUser.email == email)) is None:
            create_work_user(orgs[partner_id], email, name, DEMO_PASSWORD, roles)
            created["work_users"] += 1
    if with_links:
        created["links"] = seed_demo_links()
    return created
