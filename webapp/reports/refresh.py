"""The data refresh: read every reportable link's transcript from its provider (client
credentials, scope transcript.read), then write all changes in one transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import requests
from authlib.integrations.base_client import OAuthError
from flask import current_app
from flask_babel import gettext as _, ngettext
from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError

from ..linking import oidc
from ..linking.backchannel import BackChannelLimit, BackChannelSession, refresh_limit_message
from ..clock import now, today
from ..extensions import db
from ..models import ACHIEVEMENT_KINDS, ACHIEVEMENT_LEVELS, Achievement, AppSetting, LinkedAccount, WorkUser
from ..linking.rules import provider_label
from .credit import credit_date, reportable_link_clause

TRANSCRIPT_SCOPE = "transcript.read"
LAST_REFRESH_KEY = "transcripts_refreshed_at"


class RefreshError(Exception):
    """The refresh could not read every transcript; nothing was written. ``message`` is for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One transcript item as a provider reported it, checked."""

    item_id: str
    kind: str
    code: str | None
    title: str
    level: str | None
    completed_on: date


@dataclass
class UserChanges:
    work_user_id: int
    email: str = ""
    display_name: str = ""
    added: int = 0
    updated: int = 0
    removed: int = 0


@dataclass
class RefreshResult:
    links_checked: int
    per_user: dict[int, UserChanges]
    refreshed_at: datetime

    @property
    def added(self) -> int:
        return sum(c.added for c in self.per_user.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.per_user.values())

    @property
    def removed(self) -> int:
        return sum(c.removed for c in self.per_user.values())

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        if not self.changed:
            return ngettext("Data refreshed from %(num)d linked account: no changes.",
                            "Data refreshed from %(num)d linked accounts: no changes.", self.links_checked)
        return ngettext("Data refreshed from %(num)d linked account: %(changes)s, for %(users)s.",
                        "Data refreshed from %(num)d linked accounts: %(changes)s, for %(users)s.",
                        self.links_checked, changes=_changes(self.added, self.updated, self.removed),
                        users=ngettext("%(num)d user", "%(num)d users", len(self.per_user)))

    def user_lines(self) -> list[str]:
        return [_("%(email)s: %(changes)s.", email=c.email, changes=_changes(c.added, c.updated, c.removed))
                for c in sorted(self.per_user.values(), key=lambda c: c.email)]


def _changes(added: int, updated: int, removed: int) -> str:
    """"1 added, 2 updated, 0 removed", each count with its language's plural form."""
    return _("%(added)s, %(updated)s, %(removed)s",
             added=ngettext("%(num)d added", "%(num)d added", added),
             updated=ngettext("%(num)d updated", "%(num)d updated", updated),
             removed=ngettext("%(num)d removed", "%(num)d removed", removed))


def parse_transcript_item(raw) -> TranscriptEntry:
    """Check one item of the transcript API; ValueError when it is not what the API promises."""
    if not isinstance(raw, dict):
        raise ValueError("item is not an object")
    item_id, kind, title = raw.get("id"), raw.get("kind"), raw.get("title")
    code, level = raw.get("code") or None, raw.get("level") or None
    if not isinstance(item_id, str) or not item_id or len(item_id) > 100:
        raise ValueError("bad id")
    if kind not in ACHIEVEMENT_KINDS:
        raise ValueError("bad kind")
    if level is not None and level not in ACHIEVEMENT_LEVELS:
        raise ValueError("bad level")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("bad title")
    if code is not None and (not isinstance(code, str) or len(code) > 40):
        raise ValueError("bad code")
    completed_on = date.fromisoformat(str(raw.get("completed_at")))
    return TranscriptEntry(item_id, kind, code, title.strip()[:255], level, completed_on)


def refreshable_links(on: date | None = None, organization_id: int | None = None) -> list[LinkedAccount]:
    """Every link whose achievements belong in a report today (active ones, deleted users' until
    removal): of one organization, or of all when ``organization_id`` is None."""
    on = on or today()
    stmt = (select(LinkedAccount).join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
            .where(reportable_link_clause(on)).order_by(LinkedAccount.id))
    if organization_id is not None:
        stmt = stmt.where(LinkedAccount.organization_id == organization_id)
    return list(db.session.scalars(stmt))


def fetch_transcripts(links: list[LinkedAccount]) -> dict[int, list[TranscriptEntry]]:
    """GET every link's transcript from its provider (client_credentials token, scope transcript.read).

    Raises RefreshError on the first provider failure: the caller then writes nothing.
    """
    timeout = current_app.config["OIDC_HTTP_TIMEOUT"]
    by_provider: dict[str, list[LinkedAccount]] = {}
    for link in links:
        by_provider.setdefault(link.provider, []).append(link)
    fetched: dict[int, list[TranscriptEntry]] = {}
    for provider, provider_links in by_provider.items():
        label = provider_label(provider)
        failed = _("Could not read the transcripts from %(provider)s. Nothing was changed; "
                   "try again in a moment.", provider=label)
        try:
            metadata = oidc.load_metadata(provider, oidc.Trace())
        except oidc.FlowError as exc:
            raise RefreshError(failed if exc.transient else exc.message)
        rp = oidc.client_for(provider)
        transcript_url = metadata["issuer"].rstrip("/") + "/api/transcript"
        with BackChannelSession(rp.client_id, rp.client_secret, scope=TRANSCRIPT_SCOPE,
                                token_endpoint_auth_method=oidc.auth_method_for(provider, metadata),
                                default_timeout=timeout) as http:
            try:
                http.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
            except BackChannelLimit as exc:
                raise RefreshError(refresh_limit_message(label, exc))
            except OAuthError as exc:
                current_app.logger.warning("transcript token refused by %s: %s", provider, exc.error)
                raise RefreshError(_("%(provider)s refused Partner Center's transcript access "
                                     "(%(error)s). Nothing was changed; check the client "
                                     "configuration.", provider=label, error=exc.error))
            except (requests.RequestException, ValueError):
                raise RefreshError(failed)
            for link in provider_links:
                try:
                    response = http.get(transcript_url, params={"sub": link.subject})
                    if response.status_code == 404:
                        # The personal account no longer exists at the provider: nothing to credit.
                        fetched[link.id] = []
                        continue
                    response.raise_for_status()
                    payload = response.json()
                    if payload.get("sub") != link.subject:
                        raise ValueError("transcript of another account")
                    fetched[link.id] = [parse_transcript_item(raw) for raw in payload.get("items") or []]
                except BackChannelLimit as exc:
                    raise RefreshError(refresh_limit_message(label, exc))
                except (requests.RequestException, ValueError, AttributeError, TypeError):
                    current_app.logger.warning("transcript of link %s at %s unreadable", link.id, provider)
                    raise RefreshError(failed)
    return fetched


def apply_transcripts(links: list[LinkedAccount], fetched: dict[int, list[TranscriptEntry]],
                      on: date | None = None, organization_id: int | None = None) -> RefreshResult:
    """Upsert the fetched transcripts and drop achievements no report needs, in one transaction.

    ``links`` are the refreshed links; achievements of any other link (removed, moved, or of a
    user deleted before the last removal date) are deleted and counted as removed; with an
    ``organization_id``, only that organization's achievements are looked at.
    """
    on = on or today()
    current = now()
    changes: dict[int, UserChanges] = {}

    def bump(user_id: int, what: str) -> None:
        entry = changes.setdefault(user_id, UserChanges(user_id))
        setattr(entry, what, getattr(entry, what) + 1)

    try:
        keep_ids = select(LinkedAccount.id).join(WorkUser, WorkUser.id == LinkedAccount.work_user_id) \
            .where(reportable_link_clause(on))
        stale = ~Achievement.link_id.in_(keep_ids)
        if organization_id is not None:
            stale = and_(stale, Achievement.organization_id == organization_id)
        for user_id, count in db.session.execute(
                select(Achievement.work_user_id, func.count()).where(stale)
                .group_by(Achievement.work_user_id)):
            changes.setdefault(user_id, UserChanges(user_id)).removed += count
        db.session.execute(delete(Achievement).where(stale).execution_options(synchronize_session=False))

        for start in range(0, len(links), 500):
            chunk = links[start:start + 500]
            existing: dict[tuple[int, str], Achievement] = {
                (a.link_id, a.item_id): a for a in db.session.scalars(
                    select(Achievement).where(Achievement.link_id.in_([l.id for l in chunk])))}
            for link in chunk:
                seen = set()
                for entry in fetched.get(link.id, []):
                    if entry.item_id in seen:
                        continue
                    seen.add(entry.item_id)
                    values = {"kind": entry.kind, "code": entry.code, "title": entry.title,
                              "level": entry.level, "completed_on": entry.completed_on,
                              "credit_on": credit_date(entry.completed_on, link.linked_at)}
                    row = existing.pop((link.id, entry.item_id), None)
                    if row is None:
                        db.session.add(Achievement(
                            work_user_id=link.work_user_id, link_id=link.id,
                            organization_id=link.organization_id, provider=link.provider,
                            item_id=entry.item_id, changed_at=current, **values))
                        bump(link.work_user_id, "added")
                    elif any(getattr(row, k) != v for k, v in values.items()):
                        for k, v in values.items():
                            setattr(row, k, v)
                        row.changed_at = current
                        bump(link.work_user_id, "updated")
            for row in existing.values():  # no longer on the provider's transcript
                db.session.delete(row)
                bump(row.work_user_id, "removed")

        if changes:
            for user in db.session.scalars(select(WorkUser).where(WorkUser.id.in_(list(changes)))):
                changes[user.id].email, changes[user.id].display_name = user.email, user.display_name
        key = _last_refresh_key(organization_id)
        setting = db.session.get(AppSetting, key)
        if setting is None:
            db.session.add(AppSetting(key=key, value=current.isoformat(timespec="seconds")))
        else:
            setting.value = current.isoformat(timespec="seconds")
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RefreshError(_("Another data refresh was running at the same time. Nothing was changed "
                             "by this one; try again in a moment."))
    except Exception:
        db.session.rollback()
        raise
    return RefreshResult(len(links), changes, current)


def refresh_transcripts(organization_id: int | None = None) -> RefreshResult:
    """The data refresh: read every reportable link's transcript, then write all changes at once.

    An organization's admin refreshes their organization (``organization_id``); None refreshes
    every organization, which only the installation operator (or the CLI) does.
    """
    on = today()
    links = refreshable_links(on, organization_id)
    fetched = fetch_transcripts(links)  # network first: a failure leaves the database untouched
    return apply_transcripts(links, fetched, on, organization_id)


def _last_refresh_key(organization_id: int | None) -> str:
    return LAST_REFRESH_KEY if organization_id is None else f"{LAST_REFRESH_KEY}:{organization_id}"


def last_refresh(organization_id: int | None = None) -> datetime | None:
    """When the organization's data (or, with None, every organization's) was last refreshed."""
    keys = {LAST_REFRESH_KEY, _last_refresh_key(organization_id)}
    values = [datetime.fromisoformat(v) for v in db.session.scalars(
        select(AppSetting.value).where(AppSetting.key.in_(keys)))]
    return max(values) if values else None
