"""The QA control API's accounts: create, read, change and delete provider accounts and
their transcripts (``/<issuer>/qa/accounts``; the token check is in ``api.py``)."""

from __future__ import annotations

import datetime as dt

from flask import g
from flask import jsonify

from common.demo_accounts import CATALOG as COURSE_CATALOG
from common.demo_accounts import DEMO_PASSWORD
from common.demo_accounts import KINDS
from common.demo_accounts import LEVELS

from ..models import Account
from ..models import TranscriptItem
from ..models import db
from ..services import AccountError
from ..services import add_transcript_item
from ..services import create_account
from ..services import delete_account
from ..services import find_account
from ..services import normalize_email
from ..services import set_profile_mcid
from .api import ApiError
from .api import email_field
from .api import issuer_api
from .api import json_body
from .api import string_field

ACCOUNT_FIELDS = {"email", "password", "name", "kind", "mcid", "msa_email",
                  "legal_name", "country", "transcript"}
ACCOUNT_PATCH_FIELDS = ACCOUNT_FIELDS - {"email", "transcript"}
ITEM_FIELDS = {"catalog", "kind", "title", "code", "level", "completed_at"}


def account_to_dict(account: Account) -> dict:
    profile = account.profile
    return {
        "issuer": account.issuer,
        "email": account.email,
        "name": profile.display_name,
        "kind": account.kind,
        "subject": account.subject,
        "mcid": profile.mcid,
        "legal_name": profile.legal_name,
        "country": profile.country,
        "msa_attached": profile.has_personal_account,
        "profile_accounts": [{"email": a.email, "kind": a.kind} for a in profile.accounts],
        "transcript": [item.to_dict() for item in profile.transcript_items],
    }


def _account_or_404(email: str) -> Account:
    account = find_account(g.issuer, email)
    if account is None:
        raise ApiError("No account with this email at this issuer.", "email", 404)
    return account


def _mcid_value(data: dict):
    """``mcid``: a string, "generate", or null (remove); Learn only."""
    value = data["mcid"]
    if g.issuer != "learn" and value is not None:
        raise ApiError("Only Microsoft Learn profiles have an MCID.", "mcid")
    if value is not None and not isinstance(value, str):
        raise ApiError("'mcid' must be an 8 or 9 digit string, \"generate\" or null.", "mcid")
    return value


def _password(data: dict, default=None) -> str | None:
    value = data.get("password", default)
    if value is None:
        return None
    if not isinstance(value, str) or not 8 <= len(value) <= 128:
        raise ApiError("'password' must be 8 to 128 characters.", "password")
    return value


def _kind(data: dict, default=None) -> str | None:
    value = data.get("kind", default)
    if value is None:
        return None
    if value not in ("personal", "work"):
        raise ApiError("'kind' must be 'personal' or 'work'.", "kind")
    if g.issuer != "learn" and value != "personal":
        raise ApiError("Partner University accounts are personal accounts.", "kind")
    return value


def _attach_msa(account: Account, msa_email: str, password: str) -> None:
    """Add a personal Microsoft account to a work account's Learn profile."""
    if g.issuer != "learn":
        raise ApiError("Only Microsoft Learn profiles take an attached MSA.", "msa_email")
    if account.kind != "work":
        raise ApiError("An MSA is attached to a work account's profile.", "msa_email")
    if account.profile.has_personal_account:
        raise ApiError("This profile already has a personal Microsoft account.", "msa_email")
    try:
        create_account(g.issuer, msa_email, password, account.profile.display_name,
                       kind="personal", profile=account.profile, commit=False)
    except AccountError as error:
        raise ApiError(str(error), "msa_email") from None


def _apply_item(profile, data: dict, field_prefix: str = "") -> TranscriptItem:
    unknown = sorted(set(data) - ITEM_FIELDS)
    if unknown:
        raise ApiError(f"Unknown field '{unknown[0]}'.", field_prefix + unknown[0])
    entry = {}
    if data.get("catalog") is not None:
        entry = COURSE_CATALOG.get(data["catalog"]) if isinstance(data["catalog"], str) else None
        if entry is None:
            raise ApiError("Unknown catalog item; one of: " + ", ".join(COURSE_CATALOG) + ".",
                           field_prefix + "catalog")
    kind = data.get("kind", entry.get("kind"))
    if kind not in KINDS:
        raise ApiError(f"'kind' must be one of {', '.join(KINDS)}.", field_prefix + "kind")
    try:
        title = string_field(data, "title", required=not entry, default=entry.get("title"))
        code = string_field(data, "code", max_len=40, default=entry.get("code"))
    except ApiError as error:
        raise ApiError(error.message, field_prefix + error.field) from None
    level = data.get("level", entry.get("level"))
    if level is not None and level not in LEVELS:
        raise ApiError(f"'level' must be one of {', '.join(LEVELS)} or null.",
                       field_prefix + "level")
    completed = data.get("completed_at")
    if completed is not None:
        try:
            completed = dt.date.fromisoformat(completed)
        except (TypeError, ValueError):
            raise ApiError("'completed_at' must be a date (YYYY-MM-DD).",
                           field_prefix + "completed_at") from None
    return add_transcript_item(profile, kind, title, code=code, level=level,
                               completed_at=completed, commit=False)


@issuer_api.post("/accounts")
def accounts_create():
    data = json_body(ACCOUNT_FIELDS)
    email = email_field(data, "email", required=True)
    password = _password(data, DEMO_PASSWORD)
    name = string_field(data, "name", max_len=120, default=email.split("@")[0])
    kind = _kind(data, "personal")
    mcid = _mcid_value(data) if "mcid" in data else None
    msa_email = email_field(data, "msa_email")
    legal_name = string_field(data, "legal_name", max_len=200)
    country = string_field(data, "country", max_len=80)
    transcript = data.get("transcript") or []
    if not isinstance(transcript, list) or not all(isinstance(i, dict) for i in transcript):
        raise ApiError("'transcript' must be a list of objects.", "transcript")
    if find_account(g.issuer, email) is not None:
        raise ApiError("An account with this email already exists.", "email")
    try:
        account = create_account(g.issuer, email, password, name, kind=kind,
                                 legal_name=legal_name, country=country, commit=False)
        if mcid is not None:
            set_profile_mcid(account.profile, mcid)
    except AccountError as error:
        raise ApiError(str(error), "mcid" if "MCID" in str(error) else "email") from None
    if msa_email:
        _attach_msa(account, msa_email, password)
    for index, item in enumerate(transcript):
        _apply_item(account.profile, item, f"transcript[{index}].")
    db.session.commit()
    return jsonify(account_to_dict(account)), 201


@issuer_api.get("/accounts/<email>")
def accounts_get(email: str):
    return jsonify(account_to_dict(_account_or_404(email)))


@issuer_api.patch("/accounts/<email>")
def accounts_update(email: str):
    account = _account_or_404(email)
    data = json_body(ACCOUNT_PATCH_FIELDS)
    profile = account.profile
    if "name" in data:
        profile.display_name = string_field(data, "name", required=True, max_len=120)
    if "legal_name" in data:
        profile.legal_name = string_field(data, "legal_name", max_len=200)
    if "country" in data:
        profile.country = string_field(data, "country", max_len=80)
    password = _password(data)
    if password:
        account.set_password(password)
    if "kind" in data:
        kind = _kind(data)
        if kind is None:
            raise ApiError("'kind' must be 'personal' or 'work'.", "kind")
        account.kind = kind
    if "mcid" in data:
        try:
            set_profile_mcid(profile, _mcid_value(data))
        except AccountError as error:
            raise ApiError(str(error), "mcid") from None
    msa_email = email_field(data, "msa_email")
    if msa_email:
        _attach_msa(account, msa_email, password or DEMO_PASSWORD)
    db.session.commit()
    return jsonify(account_to_dict(account))


@issuer_api.delete("/accounts/<email>")
def accounts_delete(email: str):
    account = _account_or_404(email)
    delete_account(account)
    return jsonify({"deleted": normalize_email(email)})


@issuer_api.post("/accounts/<email>/transcript")
def accounts_add_transcript_item(email: str):
    account = _account_or_404(email)
    data = json_body(ITEM_FIELDS)
    item = _apply_item(account.profile, data)
    db.session.commit()
    return jsonify(item.to_dict()), 201


@issuer_api.delete("/accounts/<email>/transcript/<item_id>")
def accounts_delete_transcript_item(email: str, item_id: str):
    account = _account_or_404(email)
    item = db.session.scalar(db.select(TranscriptItem).where(
        TranscriptItem.public_id == item_id,
        TranscriptItem.profile_id == account.profile_id))
    if item is None:
        raise ApiError("No such transcript item on this profile.", "id", 404)
    db.session.delete(item)
    db.session.commit()
    return jsonify({"deleted": item_id})
