"""The data refresh, run now in this process (the CLI's ``refresh-data``, a learner's own
refresh, tests): the same job as a worker runs (jobs.py), created already running."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import gettext as _, ngettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..clock import now, real_now, today
from ..extensions import db
from ..models import PROVIDERS, REFRESH_RUNNING, LinkedAccount, Organization, RefreshJob, WorkUser
from .credit import reportable_link_clause
from .jobs import LAST_REFRESH_KEY, _finish, _record_last_refresh, last_refresh, run_job  # noqa: F401
from .merge import merge_provider, stage
from .transcripts import RefreshError, TranscriptEntry, TranscriptReader, parse_transcript_item  # noqa: F401


@dataclass
class RefreshResult:
    links_checked: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    errors: list[str] = field(default_factory=list)
    refreshed_at: datetime | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def add(self, job: RefreshJob) -> None:
        self.links_checked += job.links_checked
        self.added, self.updated, self.removed = (self.added + job.added, self.updated + job.updated,
                                                  self.removed + job.removed)
        self.errors += [m for m in (job.message or "").split("\n") if m and m not in self.errors]

    def summary(self) -> str:
        return summary(self.links_checked, self.added, self.updated, self.removed)


def summary(links: int, added: int, updated: int, removed: int) -> str:
    if not (added or updated or removed):
        return ngettext("Data refreshed from %(num)d linked account: no changes.",
                        "Data refreshed from %(num)d linked accounts: no changes.", links)
    return ngettext("Data refreshed from %(num)d linked account: %(changes)s.",
                    "Data refreshed from %(num)d linked accounts: %(changes)s.", links,
                    changes=changes_text(added, updated, removed))


def changes_text(added: int, updated: int, removed: int) -> str:
    """"1 added, 2 updated, 0 removed", each count with its language's plural form."""
    return _("%(added)s, %(updated)s, %(removed)s",
             added=ngettext("%(num)d added", "%(num)d added", added),
             updated=ngettext("%(num)d updated", "%(num)d updated", updated),
             removed=ngettext("%(num)d removed", "%(num)d removed", removed))


def _start_job(organization_id: int, trigger: str, work_user_id: int | None = None) -> RefreshJob:
    started = real_now()
    job = RefreshJob(organization_id=organization_id, work_user_id=work_user_id, trigger=trigger,
                     status=REFRESH_RUNNING, requested_at=started, started_at=started, heartbeat_at=started)
    db.session.add(job)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise RefreshError(_("A data refresh of this organization is already running. Its progress "
                             "is on the Reports page."))
    return job


def refresh_transcripts(organization_id: int | None = None, trigger: str = "cli") -> RefreshResult:
    """Refresh one organization (or every one, with None) now, in this process."""
    ids = [organization_id] if organization_id is not None else list(
        db.session.scalars(select(Organization.id).order_by(Organization.id)))
    result = RefreshResult(refreshed_at=now())
    for org_id in ids:
        result.add(run_job(_start_job(org_id, trigger)))
    return result


def refresh_user(work_user: WorkUser) -> RefreshJob:
    """A learner's refresh of their own links (one API call per provider)."""
    return run_job(_start_job(work_user.organization_id, "learner", work_user.id))


def learner_refresh_wait(work_user: WorkUser, interval: timedelta) -> timedelta:
    """How long the learner must still wait before refreshing their achievements again (zero:
    now). Read from their last refresh job, so every web worker enforces the same interval."""
    last = db.session.scalar(select(func.max(RefreshJob.requested_at))
                             .where(RefreshJob.work_user_id == work_user.id))
    return max(timedelta(0), last + interval - real_now()) if last is not None else timedelta(0)


def refreshable_links(on: date | None = None, organization_id: int | None = None) -> list[LinkedAccount]:
    """Every link whose achievements belong in a report today (active ones, deleted users' until
    removal): of one organization, or of all when ``organization_id`` is None."""
    stmt = (select(LinkedAccount).join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
            .where(reportable_link_clause(on or today())).order_by(LinkedAccount.id))
    if organization_id is not None:
        stmt = stmt.where(LinkedAccount.organization_id == organization_id)
    return list(db.session.scalars(stmt))


def fetch_transcripts(links: list[LinkedAccount], page_size: int = 200) -> dict[int, list[TranscriptEntry]]:
    """Every link's transcript, in memory (small sets only; the jobs stage page by page).
    RefreshError on the first provider failure."""
    fetched: dict[int, list[TranscriptEntry]] = {}
    for provider in PROVIDERS:
        provider_links = [l for l in links if l.provider == provider]
        if not provider_links:
            continue
        with TranscriptReader(provider) as reader:
            for start in range(0, len(provider_links), page_size):
                fetched.update(reader.read_page(provider_links[start:start + page_size]))
    return fetched


def apply_transcripts(links: list[LinkedAccount], fetched: dict[int, list[TranscriptEntry]],
                      organization_id: int | None = None) -> RefreshResult:
    """Write already-read transcripts through the jobs' staging and merge (every organization
    with None): achievements of links not in ``links`` are removed."""
    ids = [organization_id] if organization_id is not None else list(
        db.session.scalars(select(Organization.id).order_by(Organization.id)))
    result, changed_at = RefreshResult(refreshed_at=now()), now()
    for org_id in ids:
        job = _start_job(org_id, "cli")
        org_links = [l for l in links if l.organization_id == org_id]
        for provider in PROVIDERS:
            provider_links = [l for l in org_links if l.provider == provider]
            stage(job.id, provider, provider_links, fetched)
            counts = merge_provider(job.id, provider, org_id, changed_at)
            job.added, job.updated, job.removed = (job.added + counts.added, job.updated + counts.updated,
                                                   job.removed + counts.removed)
        job.links_checked = job.users_done = len(org_links)
        _record_last_refresh(org_id, changed_at)
        result.add(_finish(job, "done", {}))
    return result
