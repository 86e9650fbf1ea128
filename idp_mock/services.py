"""Account, MCID and transcript helpers shared by routes, CLI and demo data."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy.orm import joinedload

from common.demo_accounts import KINDS
from common.demo_accounts import LEVELS

from .models import Account
from .models import AuthorizationCode
from .models import Consent
from .models import LearnProfile
from .models import OAuth2Client
from .models import Token
from .models import TranscriptItem
from .models import db


class AccountError(ValueError):
    pass


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_account(issuer: str, email: str) -> Account | None:
    # With its profile: signing in goes on to the consent page, which shows the profile's name.
    return db.session.scalar(
        db.select(Account).options(joinedload(Account.profile))
        .filter_by(issuer=issuer, email=normalize_email(email)))


def find_account_by_subject(issuer: str, subject: str) -> Account | None:
    return db.session.scalar(db.select(Account).filter_by(issuer=issuer, subject=subject))


def generate_mcid(issuer: str) -> str:
    """A 9-digit MCID string, unique per issuer."""
    while True:
        candidate = str(100_000_000 + secrets.randbelow(900_000_000))
        exists = db.session.scalar(
            db.select(LearnProfile.id).filter_by(issuer=issuer, mcid=candidate)
        )
        if exists is None:
            return candidate


def validate_mcid(mcid: str) -> str:
    mcid = mcid.strip()
    if not (mcid.isdigit() and 8 <= len(mcid) <= 9):
        raise AccountError("An MCID is an 8 or 9 digit number.")
    return mcid


def create_account(
    issuer: str,
    email: str,
    password: str,
    display_name: str,
    kind: str = "personal",
    profile: LearnProfile | None = None,
    mcid: str | None = None,
    legal_name: str | None = None,
    country: str | None = None,
    commit: bool = True,
    password_hash: str | None = None,
) -> Account:
    """Create a sign-in account; a new profile is created unless one is given.

    ``password_hash``: the hash of ``password`` when the caller has it already (the demo
    accounts share one password: one scrypt instead of one per account)."""
    if kind not in ("personal", "work"):
        raise AccountError("kind must be 'personal' or 'work'")
    if issuer != "learn" and kind != "personal":
        raise AccountError("Partner University accounts are personal accounts.")
    email = normalize_email(email)
    if find_account(issuer, email) is not None:
        raise AccountError("An account with this email already exists.")
    if profile is None:
        if mcid is not None:
            mcid = validate_mcid(mcid)
            taken = db.session.scalar(
                db.select(LearnProfile.id).filter_by(issuer=issuer, mcid=mcid)
            )
            if taken is not None:
                raise AccountError("This MCID is already used by another profile.")
        profile = LearnProfile(
            issuer=issuer,
            display_name=display_name,
            mcid=mcid,
            legal_name=legal_name or (display_name if mcid else None),
            country=country,
        )
        db.session.add(profile)
    account = Account(issuer=issuer, profile=profile, email=email, kind=kind)
    if password_hash is None:
        account.set_password(password)
    else:
        account.password_hash = password_hash
    db.session.add(account)
    if commit:
        db.session.commit()
    return account


def add_transcript_item(
    profile: LearnProfile,
    kind: str,
    title: str,
    code: str | None = None,
    level: str | None = None,
    completed_at: dt.date | None = None,
    commit: bool = True,
) -> TranscriptItem:
    if kind not in KINDS:
        raise AccountError(f"kind must be one of {', '.join(KINDS)}")
    if level is not None and level not in LEVELS:
        raise AccountError(f"level must be one of {', '.join(LEVELS)} or empty")
    item = TranscriptItem(
        profile=profile,
        kind=kind,
        title=title,
        code=code,
        level=level,
        completed_at=completed_at or dt.date.today(),
    )
    db.session.add(item)
    if commit:
        db.session.commit()
    return item


#: What a client registered by QA (CLI, control API) may do unless told otherwise.
QA_CLIENT_SCOPE = "openid profile email offline_access transcript.read"


def upsert_client(data: dict) -> OAuth2Client:
    """Create or update a client from a configuration entry.

    ``token_endpoint_auth_method: "none"`` makes a public client (no secret; PKCE binds its
    code; never the client credentials grant). ``require_nonce`` (default on: configured clients
    are Partner Center's own) and ``always_ask_consent`` (the consent page on every flow) are
    the client's settings."""
    issuer = data["issuer"]
    client = db.session.scalar(
        db.select(OAuth2Client).filter_by(issuer=issuer, client_id=data["client_id"])
    )
    if client is None:
        client = OAuth2Client(issuer=issuer, client_id=data["client_id"])
        db.session.add(client)
    auth_method = data.get("token_endpoint_auth_method", "client_secret_basic")
    grant_types = list(data.get("grant_types", ["authorization_code", "client_credentials"]))
    secret = data.get("client_secret")
    if auth_method == "none":
        grant_types = [grant for grant in grant_types if grant != "client_credentials"]
        client.client_secret = ""
    elif secret:
        client.set_client_secret(secret)  # the same digest again changes nothing
    metadata = {
        "client_name": data.get("client_name") or data["client_id"],
        "redirect_uris": list(data.get("redirect_uris", [])),
        "post_logout_redirect_uris": list(data.get("post_logout_redirect_uris", [])),
        "scope": data.get("scope", "openid profile email transcript.read"),
        "grant_types": grant_types,
        "response_types": list(data.get("response_types", ["code"])),
        "token_endpoint_auth_method": auth_method,
        "require_nonce": bool(data.get("require_nonce", True)),
        "always_ask_consent": bool(data.get("always_ask_consent", False)),
    }
    if client.client_metadata != metadata:
        client.set_client_metadata(metadata)
    return client


def register_qa_client(issuer: str, client_id: str, redirect_uris: list[str], *,
                       client_name: str | None = None, client_secret: str | None = None,
                       public: bool = False, post_logout_redirect_uris: list[str] = (),
                       scope: str | None = None, require_nonce: bool = False,
                       always_ask_consent: bool = False,
                       token_endpoint_auth_method: str | None = None) -> OAuth2Client:
    """A client a QA team brings (CLI ``add-client``, control API): refresh tokens allowed,
    nonce optional unless asked. A confidential client needs its secret; a public one has none.
    Not committed."""
    if public and client_secret:
        raise AccountError("A public client has no secret.")
    if not public and not client_secret:
        raise AccountError("A confidential client needs a secret.")
    grant_types = ["authorization_code", "refresh_token"]
    if not public:
        grant_types.append("client_credentials")
    return upsert_client({
        "issuer": issuer,
        "client_id": client_id,
        "client_secret": client_secret,
        "client_name": client_name or client_id,
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "scope": scope or QA_CLIENT_SCOPE,
        "grant_types": grant_types,
        "token_endpoint_auth_method": ("none" if public
                                       else token_endpoint_auth_method or "client_secret_basic"),
        "require_nonce": require_nonce,
        "always_ask_consent": always_ask_consent,
    })


# --------------------------------------------------------------------------
# Account administration (QA control API)
# --------------------------------------------------------------------------


def set_profile_mcid(profile: LearnProfile, mcid: str | None) -> None:
    """Give ``profile`` this MCID ("generate" for a new one) or remove it (None)."""
    if mcid is None:
        profile.mcid = None
        return
    if mcid == "generate":
        profile.mcid = profile.mcid or generate_mcid(profile.issuer)
    else:
        mcid = validate_mcid(mcid)
        taken = db.session.scalar(
            db.select(LearnProfile.id).filter_by(issuer=profile.issuer, mcid=mcid)
        )
        if taken is not None and taken != profile.id:
            raise AccountError("This MCID is already used by another profile.")
        profile.mcid = mcid
    profile.legal_name = profile.legal_name or profile.display_name


def delete_account(account: Account) -> None:
    """Remove an account, its codes and tokens; the profile goes with its last account."""
    profile = account.profile
    db.session.execute(db.delete(AuthorizationCode).where(AuthorizationCode.user_id == account.id))
    db.session.execute(db.delete(Token).where(Token.user_id == account.id))
    db.session.execute(db.delete(Consent).where(Consent.account_id == account.id))
    db.session.delete(account)
    db.session.flush()
    if not db.session.scalar(db.select(Account.id).filter_by(profile_id=profile.id)):
        for item in list(profile.transcript_items):
            db.session.delete(item)
        db.session.delete(profile)
    db.session.commit()
