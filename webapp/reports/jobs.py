"""Data refresh jobs: a row per refresh in ``refresh_jobs``, queued by the Reports page, the
schedule or the operator, and run by a worker process (``flask refresh-worker`` or
``flask refresh-due``), never inside a web request.

Claiming is an UPDATE guarded by the row's status (and ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
so two workers never wait on each other): no queue server, no state in a process's memory. A
worker that dies leaves its job ``running`` with an old heartbeat; after
``REFRESH_JOB_LEASE_SECONDS`` another worker takes it over and starts it again.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..clock import now, real_now, today
from ..extensions import db
from ..models import (PROVIDERS, REFRESH_DONE, REFRESH_FAILED, REFRESH_QUEUED, REFRESH_RUNNING,
                      AppSetting, LinkedAccount, Organization, RefreshJob, WorkUser)
from .credit import reportable_link_clause
from .merge import drop_staged, merge_provider, stage
from .transcripts import RefreshError, TranscriptReader

LAST_REFRESH_KEY = "transcripts_refreshed_at"


def last_refresh_key(organization_id: int | None) -> str:
    return LAST_REFRESH_KEY if organization_id is None else f"{LAST_REFRESH_KEY}:{organization_id}"


def request_refresh(organization_id: int, trigger: str) -> tuple[RefreshJob, bool]:
    """Queue a refresh of the organization: (the job, True), or (the one already queued or
    running, False): one refresh per organization at a time, by the partial unique index."""
    job = RefreshJob(organization_id=organization_id, trigger=trigger, status=REFRESH_QUEUED,
                     requested_at=real_now())
    db.session.add(job)
    try:
        db.session.commit()
        return job, True
    except IntegrityError:
        db.session.rollback()
        return active_job(organization_id), False


def active_job(organization_id: int) -> RefreshJob | None:
    return db.session.scalar(select(RefreshJob).where(
        RefreshJob.organization_id == organization_id, RefreshJob.work_user_id.is_(None),
        RefreshJob.status.in_((REFRESH_QUEUED, REFRESH_RUNNING))))


def latest_job(organization_id: int) -> RefreshJob | None:
    """The organization's newest refresh (the Reports page's progress or last result)."""
    return db.session.scalar(select(RefreshJob).where(
        RefreshJob.organization_id == organization_id, RefreshJob.work_user_id.is_(None))
        .order_by(RefreshJob.id.desc()).limit(1))


def claim_next_job() -> RefreshJob | None:
    """Take the oldest queued job (or a running one whose worker went silent) for this process."""
    lease = timedelta(seconds=current_app.config["REFRESH_JOB_LEASE_SECONDS"])
    claimable = or_(RefreshJob.status == REFRESH_QUEUED,
                    and_(RefreshJob.status == REFRESH_RUNNING, RefreshJob.heartbeat_at < real_now() - lease))
    while True:
        row = db.session.execute(select(RefreshJob.id, RefreshJob.status, RefreshJob.heartbeat_at)
                                 .where(claimable, RefreshJob.work_user_id.is_(None))
                                 .order_by(RefreshJob.id).limit(1)
                                 .with_for_update(skip_locked=True)).first()
        if row is None:
            db.session.rollback()
            return None
        started = real_now()
        # Guarded by what was read: of two workers reading the same row (SQLite has no row
        # locks), only one UPDATE matches.
        claimed = db.session.execute(
            update(RefreshJob).where(RefreshJob.id == row.id, RefreshJob.status == row.status,
                                     RefreshJob.heartbeat_at.is_(None) if row.heartbeat_at is None
                                     else RefreshJob.heartbeat_at == row.heartbeat_at)
            .values(status=REFRESH_RUNNING, started_at=started, heartbeat_at=started, users_done=0,
                    links_checked=0, errors=0, failed_providers="", message=None)
            .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if claimed:
            drop_staged(row.id)  # what a silent worker had staged
            db.session.commit()
            return db.session.get(RefreshJob, row.id, populate_existing=True)


def run_job(job: RefreshJob) -> RefreshJob:
    """Read every reportable link's transcript a page of users at a time, staging each page with
    the job's progress, then merge each provider that answered every page. A provider that failed
    changes nothing of its own; the others are refreshed."""
    on, changed_at = today(), now()
    links_of = (select(LinkedAccount.id, LinkedAccount.subject, LinkedAccount.provider,
                       LinkedAccount.linked_at, LinkedAccount.work_user_id)
                .join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
                .where(reportable_link_clause(on), LinkedAccount.organization_id == job.organization_id))
    if job.work_user_id is not None:
        links_of = links_of.where(LinkedAccount.work_user_id == job.work_user_id)
    users_of = links_of.with_only_columns(LinkedAccount.work_user_id).distinct()
    job.users_total = db.session.scalar(select(func.count()).select_from(users_of.subquery()))
    db.session.commit()
    failures: dict[str, str] = {}
    read: set[str] = set()  # providers with links in the scope
    started = time.monotonic()
    try:
        _read_pages(job, links_of, users_of, failures, read)
    except Exception:
        db.session.rollback()
        _finish(job, REFRESH_FAILED, failures,
                _("The data refresh stopped on an unexpected error. Nothing was changed."))
        raise
    read_seconds = time.monotonic() - started

    for provider in PROVIDERS:
        if provider in failures:
            continue
        try:
            counts = merge_provider(job.id, provider, job.organization_id, changed_at, job.work_user_id)
            job.added += counts.added
            job.updated += counts.updated
            job.removed += counts.removed
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            failures[provider] = _("Another data refresh was running at the same time. Nothing was "
                                   "changed by this one; try again in a moment.")
            drop_staged(job.id, provider)
            db.session.commit()
    if not failures and job.work_user_id is None:
        _record_last_refresh(job.organization_id, changed_at)
    current_app.logger.info("refresh job %s: %d users read in %.1f s, merged in %.1f s", job.id,
                            job.users_done, read_seconds, time.monotonic() - started - read_seconds)
    return _finish(job, REFRESH_FAILED if failures and set(failures) >= read else REFRESH_DONE, failures)


def _read_pages(job: RefreshJob, links_of, users_of, failures: dict[str, str], read: set[str]) -> None:
    """Page after page of users: the next page's transcript calls run (one thread, one call per
    provider at a time) while this page is staged and its progress committed."""
    app = current_app._get_current_object()
    page_size = current_app.config["REFRESH_PAGE_SIZE"]
    readers: dict[str, TranscriptReader] = {}

    def fetch(provider: str, links):
        with app.app_context():
            return readers[provider].read_page(links)

    def pages():
        last_user = 0
        while True:
            user_ids = list(db.session.scalars(users_of.where(LinkedAccount.work_user_id > last_user)
                                               .order_by(LinkedAccount.work_user_id).limit(page_size)))
            if not user_ids:
                return
            last_user = user_ids[-1]
            yield user_ids, db.session.execute(
                links_of.where(LinkedAccount.work_user_id.in_(user_ids)).order_by(LinkedAccount.id)).all()

    def submit(pool, links) -> dict:
        futures = {}
        for provider in PROVIDERS:
            provider_links = [l for l in links if l.provider == provider]
            if not provider_links or provider in failures:
                continue
            read.add(provider)
            if provider not in readers:
                try:
                    readers[provider] = TranscriptReader(provider).__enter__()
                except RefreshError as exc:
                    failures[provider] = exc.message
                    continue
            futures[provider] = (provider_links, pool.submit(fetch, provider, provider_links))
        return futures

    def finish_page(user_ids, links, futures) -> None:
        for provider, (provider_links, future) in futures.items():
            if provider in failures:
                continue
            try:
                stage(job.id, provider, provider_links, future.result())
            except RefreshError as exc:
                failures[provider] = exc.message
                drop_staged(job.id, provider)
        job.users_done += len(user_ids)
        job.links_checked += len(links)
        job.errors = len(failures)
        job.heartbeat_at = real_now()
        db.session.commit()

    try:
        with ThreadPoolExecutor(max_workers=len(PROVIDERS), thread_name_prefix="transcripts") as pool:
            pending = None
            for user_ids, links in pages():
                if pending is not None:
                    for _links, future in pending[2].values():
                        future.exception()  # wait: one call per provider at a time
                futures = submit(pool, links)
                if pending is not None:
                    finish_page(*pending)
                pending = (user_ids, links, futures)
            if pending is not None:
                finish_page(*pending)
    finally:
        for reader in readers.values():
            reader.close()


def _finish(job: RefreshJob, status: str, failures: dict[str, str], message: str | None = None) -> RefreshJob:
    job.status = status
    job.errors = len(failures) or (1 if message else 0)
    job.failed_providers = " ".join(sorted(failures))
    job.message = "\n".join(filter(None, [message, *failures.values()])) or None
    job.finished_at = job.heartbeat_at = real_now()
    db.session.commit()
    return job


def _record_last_refresh(organization_id: int, at: datetime) -> None:
    key = last_refresh_key(organization_id)
    setting = db.session.get(AppSetting, key)
    if setting is None:
        db.session.add(AppSetting(key=key, value=at.isoformat(timespec="seconds")))
    else:
        setting.value = at.isoformat(timespec="seconds")


def run_queued_jobs(limit: int | None = None) -> list[RefreshJob]:
    """Run queued jobs until none is left (or ``limit`` ran): what a worker does."""
    ran = []
    while limit is None or len(ran) < limit:
        job = claim_next_job()
        if job is None:
            break
        ran.append(run_job(job))
    return ran


# ---------------------------------------------------------------- the schedule


def scheduled_slot(at: str, current: datetime) -> datetime:
    """The latest daily refresh time ``at`` ("HH:MM") of the simulated clock at or before ``current``."""
    hour, minute = (int(part) for part in at.split(":"))
    slot = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return slot if slot <= current else slot - timedelta(days=1)


def queue_due_refreshes() -> list[RefreshJob]:
    """Queue a refresh for every organization whose daily time passed since its last refresh."""
    current = now()
    default_at = current_app.config["REFRESH_DAILY_AT"]
    queued = []
    for organization in db.session.scalars(select(Organization).order_by(Organization.id)):
        slot = scheduled_slot(organization.refresh_time or default_at, current)
        last = last_refresh(organization.id)
        if (last is None or last < slot) and active_job(organization.id) is None:
            job, created = request_refresh(organization.id, "schedule")
            if created:
                queued.append(job)
    return queued


def last_refresh(organization_id: int | None = None) -> datetime | None:
    """When the organization's data (or, with None, every organization's) was last refreshed."""
    keys = {LAST_REFRESH_KEY, last_refresh_key(organization_id)}
    values = [datetime.fromisoformat(v) for v in db.session.scalars(
        select(AppSetting.value).where(AppSetting.key.in_(keys)))]
    return max(values) if values else None
