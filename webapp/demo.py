"""Demo organizations and work users (the README's demo table is this data)."""
from sqlalchemy import select

from . import services
from .extensions import db
from .models import ROLE_ACCOUNT_ADMIN, ROLE_GLOBAL_ADMIN, ROLE_PARTNER_ADMIN, Organization, WorkUser

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


def seed_demo() -> dict:
    """Create the demo organizations and users; running it again changes nothing."""
    created = {"organizations": 0, "work_users": 0}
    orgs = {}
    for spec in DEMO_ORGANIZATIONS:
        org = db.session.scalar(select(Organization).where(Organization.partner_id == spec["partner_id"]))
        if org is None:
            org = services.create_organization(spec["name"], spec["partner_id"])
            created["organizations"] += 1
        orgs[spec["partner_id"]] = org
    for partner_id, email, name, roles, _purpose in DEMO_WORK_USERS:
        if db.session.scalar(select(WorkUser.id).where(WorkUser.email == email)) is None:
            services.create_work_user(orgs[partner_id], email, name, DEMO_PASSWORD, roles)
            created["work_users"] += 1
    return created
