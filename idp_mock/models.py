"""Database models of the mock identity providers.

Every table carries an ``issuer`` column (``learn`` or ``partner-university``)
so the two providers never share clients, accounts, codes, tokens or keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time

from authlib.integrations.sqla_oauth2 import OAuth2AuthorizationCodeMixin
from authlib.integrations.sqla_oauth2 import OAuth2ClientMixin
from authlib.integrations.sqla_oauth2 import OAuth2TokenMixin
from flask import current_app
from sqlalchemy import Boolean
from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash


from .extensions import db


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def hash_secret(value: str) -> str:
    return generate_password_hash(value, method=current_app.config["IDP_PASSWORD_HASH"])


def new_subject() -> str:
    return secrets.token_hex(16)


def new_session_nonce() -> str:
    return secrets.token_hex(16)


class LearnProfile(db.Model):
    """A learning profile. On Learn it can own several sign-in accounts
    (a work account and a personal Microsoft account); on Partner University
    each account has its own profile."""

    __tablename__ = "idp_profiles"
    __table_args__ = (UniqueConstraint("issuer", "mcid", name="uq_profile_issuer_mcid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(40), index=True)
    display_name: Mapped[str] = mapped_column(String(120))
    mcid: Mapped[str | None] = mapped_column(String(12), nullable=True)
    legal_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    country: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    accounts: Mapped[list[Account]] = relationship(
        back_populates="profile", order_by="Account.id"
    )
    transcript_items: Mapped[list[TranscriptItem]] = relationship(
        back_populates="profile", order_by="TranscriptItem.completed_at"
    )

    @property
    def has_personal_account(self) -> bool:
        return any(a.kind == "personal" for a in self.accounts)


class Account(db.Model):
    """A sign-in account (email + password) of one issuer."""

    __tablename__ = "idp_accounts"
    __table_args__ = (UniqueConstraint("issuer", "email", name="uq_account_issuer_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(40), index=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("idp_profiles.id"), index=True)
    email: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(20), default="personal")  # personal | work
    subject: Mapped[str] = mapped_column(String(64), unique=True, default=new_subject)
    # Random per row, never reused: a provider session names the account by id *and* this
    # value, so a cookie kept past a deletion or a reset cannot sign its holder in as the next
    # account that gets the same id (SQLite hands a deleted row's id to the next insert; demo
    # accounts get their fixed subjects back at a reset, so the subject would not do).
    session_nonce: Mapped[str] = mapped_column(String(32), default=new_session_nonce)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    profile: Mapped[LearnProfile] = relationship(back_populates="accounts")

    def get_user_id(self) -> int:
        return self.id

    def set_password(self, password: str) -> None:
        self.password_hash = hash_secret(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def display_name(self) -> str:
        return self.profile.display_name


class LoginFailureWindow(db.Model):
    """Failed provider sign-ins counted per key ("<issuer>:account:<email>" or
    "address:<ip>") in fixed windows (``idp_mock.throttle``).

    In the database so every worker process sees the same counts; one row per key and window,
    bumped with an atomic UPDATE.
    """

    __tablename__ = "idp_login_failure_windows"
    __table_args__ = (UniqueConstraint("key", "window_start", name="uq_idp_login_failure_window"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    window_start: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class TranscriptItem(db.Model):
    __tablename__ = "idp_transcript_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(40), unique=True, default=lambda: "tr-" + secrets.token_hex(8)
    )
    profile_id: Mapped[int] = mapped_column(ForeignKey("idp_profiles.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # certification | assessment | training
    code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    title: Mapped[str] = mapped_column(String(255))
    level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    completed_at: Mapped[dt.date] = mapped_column(Date)

    profile: Mapped[LearnProfile] = relationship(back_populates="transcript_items")

    def to_dict(self) -> dict:
        return {
            "id": self.public_id,
            "kind": self.kind,
            "title": self.title,
            "level": self.level,
            "code": self.code,
            "completed_at": self.completed_at.isoformat(),
        }


class SigningKey(db.Model):
    """RS256 signing key of one issuer, stored as a private JWK."""

    __tablename__ = "idp_signing_keys"
    # At most one active key per issuer, so workers starting together cannot create two.
    __table_args__ = (
        Index("uq_signing_key_active_per_issuer", "issuer", unique=True,
              sqlite_where=text("active"), postgresql_where=text("active")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(40), index=True)
    kid: Mapped[str] = mapped_column(String(100), unique=True)
    private_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


SECRET_DIGEST_PREFIX = "sha256$"


def secret_digest(client_secret: str) -> str:
    """The stored form of a client secret. Client secrets are long random values (unlike
    passwords, there is no short list of likely ones to try), so a SHA-256 digest protects them
    as well as a slow password hash would, and costs the token endpoint nothing."""
    digest = hashlib.sha256(client_secret.encode("utf-8", "surrogatepass")).hexdigest()
    return SECRET_DIGEST_PREFIX + digest


class OAuth2Client(db.Model, OAuth2ClientMixin):
    __tablename__ = "idp_oauth2_clients"
    __table_args__ = (UniqueConstraint("issuer", "client_id", name="uq_client_issuer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(40), index=True)
    # Stores a digest of the secret (secret_digest), never the secret itself.
    client_secret: Mapped[str] = mapped_column(String(255), default="")

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client_secret or not client_secret:
            return False
        if self.client_secret.startswith(SECRET_DIGEST_PREFIX):
            return hmac.compare_digest(self.client_secret, secret_digest(client_secret))
        # A password hash stored by an earlier version (configured clients are stored again
        # with a digest at the next start).
        return check_password_hash(self.client_secret, client_secret)

    @property
    def is_public(self) -> bool:
        """A public client (SPA, native app) holds no secret: PKCE alone binds its code."""
        return self.token_endpoint_auth_method == "none"

    @property
    def require_nonce(self) -> bool:
        return bool(self.client_metadata.get("require_nonce", False))

    @property
    def always_ask_consent(self) -> bool:
        """QA switch: the consent page on every flow, whatever was allowed before."""
        return bool(self.client_metadata.get("always_ask_consent", False))

    def check_endpoint_auth_method(self, method, endpoint):
        # A confidential client may use either secret method at the token endpoint; a public
        # client only "none" (and so never gets client credentials, whose grant refuses it).
        if endpoint == "token":
            if self.is_public:
                return method == "none"
            return method in ("client_secret_basic", "client_secret_post")
        return True

    def set_client_secret(self, client_secret: str) -> None:
        self.client_secret = secret_digest(client_secret)

    @property
    def post_logout_redirect_uris(self) -> list[str]:
        return self.client_metadata.get("post_logout_redirect_uris", [])


class AuthorizationCode(db.Model, OAuth2AuthorizationCodeMixin):
    __tablename__ = "idp_authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("idp_accounts.id", ondelete="CASCADE")
    )
    # ``auth_time`` (from the mixin) is when the user signed in; the code's own
    # lifetime is measured from ``issued_at``.
    issued_at: Mapped[int] = mapped_column(Integer, default=lambda: int(time.time()))
    # Set when the code is exchanged. The row is kept (not deleted) so that a second
    # exchange is recognised as a replay and the tokens it issued can be revoked.
    used_at: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The browser's Test scenario panel id (QA mode): panel-armed faults follow this code.
    qa_panel_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    user: Mapped[Account] = relationship()

    def is_expired(self) -> bool:
        lifetime = current_app.config.get("AUTHORIZATION_CODE_EXPIRES_IN", 60)
        return self.issued_at + lifetime < time.time()


class Token(db.Model, OAuth2TokenMixin):
    __tablename__ = "idp_oauth2_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("idp_accounts.id", ondelete="CASCADE"), nullable=True
    )
    # The authorization code this token was issued for (None for client credentials):
    # a replayed code revokes every token issued from it (RFC 6749 section 4.1.2).
    authorization_code_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)

    user: Mapped[Account | None] = relationship()

    def get_user(self):
        return self.user

    def get_client(self):
        return db.session.scalar(
            db.select(OAuth2Client).filter_by(issuer=self.issuer, client_id=self.client_id))


class Consent(db.Model):
    """What an account allowed a client (its scopes): a later flow of that client asking no
    more than this goes through without the consent page (and ``prompt=none`` gets a code).
    The account page lists these rows and revokes them."""

    __tablename__ = "idp_consents"
    __table_args__ = (
        UniqueConstraint("issuer", "account_id", "client_id", name="uq_consent_account_client"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("idp_accounts.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(48))
    scope: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class FaultScenario(db.Model):
    """A QA fault armed at one issuer (see ``idp_mock.qa``).

    Kept in the database, never in process memory, so every worker process of
    the providers sees the same scenarios."""

    __tablename__ = "idp_fault_scenarios"

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(60))
    # "next-flow": consumed by the first flow that hits it; "until-cleared": every flow.
    scope: Mapped[str] = mapped_column(String(20), default="next-flow")
    client_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    account_email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Set when armed from a browser's Test scenario panel: then only that browser's flows
    # see it. None when armed through the token-protected control API.
    panel_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    consumed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    consumed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    hits: Mapped[list[FaultHit]] = relationship(
        back_populates="scenario", order_by="FaultHit.id", cascade="all, delete-orphan"
    )


class FaultHit(db.Model):
    """One flow that a scenario changed: what QA sees as "it fired"."""

    __tablename__ = "idp_fault_hits"
    # A token-stage fault fires at most once per authorization code (a slow answer holds
    # one worker per flow, however often the code is sent).
    __table_args__ = (
        UniqueConstraint("scenario_id", "code_id", name="uq_fault_hit_scenario_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        ForeignKey("idp_fault_scenarios.id", ondelete="CASCADE"), index=True
    )
    issuer: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    account_email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Set when the fault must follow the flow to a later hop (userinfo after the id_token).
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # The authorization code of a token-stage hit.
    code_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    scenario: Mapped[FaultScenario] = relationship(back_populates="hits")
