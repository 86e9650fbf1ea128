"""The demo personal accounts (and the catalog of items a learner can complete) both apps use.

The providers seed these accounts; the webapp's demo guide and stories name them. Each entry:
issuer, email, name, kind, mcid (or None), note, transcript items.
"""
from __future__ import annotations

import hashlib

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


#: Items a learner can complete live from the account page:
#: key -> (kind, code, title, level)
CATALOG: dict[str, dict] = {
    "AZ-104": {"kind": "certification", "code": "AZ-104",
               "title": "Microsoft Certified: Azure Administrator Associate",
               "level": "intermediate"},
    "AZ-305": {"kind": "certification", "code": "AZ-305",
               "title": "Microsoft Certified: Azure Solutions Architect Expert",
               "level": "advanced"},
    "AZ-204": {"kind": "certification", "code": "AZ-204",
               "title": "Microsoft Certified: Azure Developer Associate",
               "level": "intermediate"},
    "SC-900": {"kind": "certification", "code": "SC-900",
               "title": "Microsoft Certified: Security, Compliance, and Identity Fundamentals",
               "level": None},
    "ASSESS-AZ-SEC": {"kind": "assessment", "code": "ASSESS-AZ-SEC",
                      "title": "Azure Security Technical Assessment",
                      "level": "intermediate"},
    "ASSESS-AI": {"kind": "assessment", "code": "ASSESS-AI",
                  "title": "Azure AI Solutions Assessment", "level": "intermediate"},
    "TRAIN-AZ-FUND": {"kind": "training", "code": "TRAIN-AZ-FUND",
                      "title": "Azure Fundamentals learning path", "level": None},
    "TRAIN-COPILOT": {"kind": "training", "code": "TRAIN-COPILOT",
                      "title": "Microsoft 365 Copilot for partners", "level": None},
}

KINDS = ("certification", "assessment", "training")
LEVELS = ("intermediate", "advanced")


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
