"""Seeding the demo accounts of both providers (``common.demo_accounts``), idempotent."""

from __future__ import annotations

import datetime as dt

from common.demo_accounts import DEMO_ACCOUNTS
from common.demo_accounts import DEMO_PASSWORD
from common.demo_accounts import demo_subject

from .models import Account
from .models import AuthorizationCode
from .models import Consent
from .models import FaultHit
from .models import FaultScenario
from .models import LearnProfile
from .models import Token
from .models import TranscriptItem
from .models import db
from .services import add_transcript_item
from .services import create_account
from .services import find_account


def seed_demo() -> list[str]:
    """Create the demo accounts that do not exist yet. Returns the emails
    created. Safe to run repeatedly (needs an app context)."""
    created: list[str] = []
    # One scrypt for every demo account (same documented password): 0.3 s instead of 2.3 s
    # per seed, which the demo reset and `python -m idp_mock` wait for.
    password_hash = None
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
            password_hash=password_hash,
        )
        password_hash = account.password_hash
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
    item, authorization code, token and remembered consent goes, then the demo accounts are created again.
    Clients and signing keys stay (relying parties keep working). Returns the emails created."""
    try:
        for model in (FaultHit, FaultScenario, Token, AuthorizationCode, Consent, TranscriptItem,
                      Account, LearnProfile):
            db.session.execute(db.delete(model))
        return seed_demo()
    except Exception:
        db.session.rollback()
        raise
