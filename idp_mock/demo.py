"""Demo accounts of both providers (idempotent seeding).

``DEMO_ACCOUNTS`` is the single source of truth; a README table can be
generated from it with :func:`demo_accounts_markdown`.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from .models import Account
from .models import AuthorizationCode
from .models import FaultHit
from .models import FaultScenario
from .models import LearnProfile
from .models import Token
from .models import TranscriptItem
from .models import db
from .services import add_transcript_item
from .services import create_account
from .services import find_account

DEMO_PASSWORD = "Passw0rd!"

#: Each entry: issuer, email, name, kind, mcid (or None), msa (personal MSA
#: attached to the Learn profile), note, transcript items.
DEMO_ACCOUNTS: list[dict] = [
    {
        "issuer": "learn", "email": "alex.learner@outlook.com", "name": "Alex Learner",
        "kind": "personal", "mcid": "987654321",
        "note": "Happy path: personal MSA with MCID and certifications",
        "transcript": [
            {"kind": "certification", "code": "AZ-104", "level": "intermediate",
             "title": "Microsoft Certified: Azure Administrator Associate",
             "completed": "2026-09-15"},
            {"kind": "certification", "code": "AZ-305", "level": "advanced",
             "title": "Microsoft Certified: Azure Solutions Architect Expert",
             "completed": "2026-10-20"},
            {"kind": "assessment", "code": "ASSESS-AZ-SEC", "level": "intermediate",
             "title": "Azure Security Technical Assessment", "completed": "2026-08-02"},
        ],
    },
    {
        "issuer": "learn", "email": "nina.nomcid@outlook.com", "name": "Nina Nomcid",
        "kind": "personal", "mcid": None,
        "note": "Learn profile without a certification profile (no MCID)",
        "transcript": [],
    },
    {
        "issuer": "learn", "email": "walt.work@contoso.com", "name": "Walt Work",
        "kind": "work", "mcid": "123450001",
        "note": "Work account only: no personal MSA attached to the profile",
        "transcript": [
            {"kind": "certification", "code": "AZ-204", "level": "intermediate",
             "title": "Microsoft Certified: Azure Developer Associate",
             "completed": "2026-06-30"},
        ],
    },
    {
        "issuer": "learn", "email": "mia.mover@outlook.com", "name": "Mia Mover",
        "kind": "personal", "mcid": "555000111",
        "note": "Moves between partner organizations",
        "transcript": [
            {"kind": "certification", "code": "AZ-104", "level": "intermediate",
             "title": "Microsoft Certified: Azure Administrator Associate",
             "completed": "2026-05-11"},
            {"kind": "certification", "code": "SC-900", "level": None,
             "title": "Microsoft Certified: Security, Compliance, and Identity Fundamentals",
             "completed": "2026-04-03"},
        ],
    },
    {
        "issuer": "learn", "email": "carl.cooloff@outlook.com", "name": "Carl Cooloff",
        "kind": "personal", "mcid": "444000222",
        "note": "For the 30-day cool-off and yearly association limit",
        "transcript": [
            {"kind": "certification", "code": "AZ-305", "level": "advanced",
             "title": "Microsoft Certified: Azure Solutions Architect Expert",
             "completed": "2026-07-21"},
        ],
    },
    {
        "issuer": "learn", "email": "priya.pending@outlook.com", "name": "Priya Pending",
        "kind": "personal", "mcid": "333000444",
        "note": "Recent completions still pending the ten-day credit window",
        "transcript": [
            {"kind": "training", "code": "TRAIN-AZ-FUND", "level": None,
             "title": "Azure Fundamentals learning path", "completed": "2026-11-10"},
        ],
    },
    {
        "issuer": "partner-university", "email": "pat.pu@outlook.com",
        "name": "Pat Partner", "kind": "personal", "mcid": None,
        "note": "Partner University learner with assessments",
        "transcript": [
            {"kind": "assessment", "code": "ASSESS-AI", "level": "intermediate",
             "title": "Azure AI Solutions Assessment", "completed": "2026-09-01"},
            {"kind": "assessment", "code": "ASSESS-AZ-SEC", "level": "intermediate",
             "title": "Azure Security Technical Assessment", "completed": "2026-10-05"},
            {"kind": "training", "code": "TRAIN-COPILOT", "level": None,
             "title": "Microsoft 365 Copilot for partners", "completed": "2026-10-12"},
        ],
    },
    {
        "issuer": "partner-university", "email": "sam.student@outlook.com",
        "name": "Sam Student", "kind": "personal", "mcid": None,
        "note": "Partner University learner without completions",
        "transcript": [],
    },
]


def demo_subject(issuer: str, email: str) -> str:
    """The fixed ``sub`` of a demo account, so demo data elsewhere can refer to it.

    ``issuer`` is the short issuer name (``learn`` or ``partner-university``). Accounts
    created later (sign-up, CLI) keep random subjects.
    """
    return hashlib.sha256(f"{issuer}:{email}".encode()).hexdigest()[:32]


def seed_demo() -> list[str]:
    """Create the demo accounts that do not exist yet. Returns the emails
    created. Safe to run repeatedly (needs an app context)."""
    created: list[str] = []
    for entry in DEMO_ACCOUNTS:
        if find_account(entry["issuer"], entry["email"]) is not None:
            continue
        account = create_account(
            entry["issuer"],
            entry["email"],
            DEMO_PASSWORD,
            entry["name"],
            kind=entry["kind"],
            mcid=entry["mcid"],
            country="United States" if entry["mcid"] else None,
            commit=False,
        )
        account.subject = demo_subject(entry["issuer"], entry["email"])
        for item in entry["transcript"]:
            add_transcript_item(
                account.profile,
                item["kind"],
                item["title"],
                code=item["code"],
                level=item["level"],
                completed_at=dt.date.fromisoformat(item["completed"]),
                commit=False,
            )
        created.append(entry["email"])
    db.session.commit()
    return created


def reset_demo() -> list[str]:
    """Back to the seeded demo accounts in one transaction: every account, profile, transcript
    item, authorization code and token goes, then the demo accounts are created again.
    Clients and signing keys stay (relying parties keep working). Returns the emails created."""
    try:
        for model in (FaultHit, FaultScenario, Token, AuthorizationCode, TranscriptItem, Account,
                      LearnProfile):
            db.session.execute(db.delete(model))
        return seed_demo()
    except Exception:
        db.session.rollback()
        raise


def demo_accounts_markdown() -> str:
    """A Markdown table of the demo accounts (for the README)."""
    lines = [
        "| Provider | Email | Password | Type | MCID | Notes |",
        "|---|---|---|---|---|---|",
    ]
    for e in DEMO_ACCOUNTS:
        provider = "Microsoft Learn" if e["issuer"] == "learn" else "Partner University"
        lines.append(
            f"| {provider} | `{e['email']}` | `{DEMO_PASSWORD}` | {e['kind']} | "
            f"{e['mcid'] or '—'} | {e['note']} |"
        )
    return "\n".join(lines)
