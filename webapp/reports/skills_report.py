"""The Skills report: linked users (deleted ones until their removal date) and their credited
certifications and assessments, as a paginated page and as a streamed CSV download.

How the CSV streams (skills_report_csv): ONE query in (work user, link, completion) order, built
with SQLAlchemy and run on the session's connection and transaction through the driver's own
cursor (a named, server-side one on PostgreSQL), read ``CSV_BATCH`` rows at a time
(driver_rows). The ``csv`` module quotes the cells; every cell that comes from people goes
through ``spreadsheet.safe_cell`` (formula injection). Each batch becomes one text chunk, which
the route hands to ``stream_with_context``: memory stays flat whatever the organization's size.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import String, and_, cast, exists, func, or_, select

from ..clock import today
from ..extensions import db
from ..models import LEARN, PARTNER_UNIVERSITY, Achievement, LinkedAccount, Organization, WorkUser
from ..pagination import Page, page_number
from ..linking.rules import provider_label
from ..spreadsheet import safe_cell
from .credit import reportable_link_clause, skills_report_cutoff, skills_report_removal_date

REPORTED_KINDS = ("certification", "assessment")
REPORT_PAGE_SIZE = 50
CSV_BATCH = 5000


def _skills_rows_select(organization_id: int, on: date):
    credited = and_(Achievement.link_id == LinkedAccount.id, Achievement.credit_on <= on,
                    Achievement.kind.in_(REPORTED_KINDS))
    return (
        select(WorkUser.id.label("user_id"), WorkUser.email, WorkUser.display_name, WorkUser.deleted_at,
               LinkedAccount.provider, LinkedAccount.mcid, LinkedAccount.email.label("account_email"),
               Achievement.kind, Achievement.code, Achievement.title, Achievement.level,
               Achievement.completed_on, Achievement.credit_on)
        .select_from(WorkUser)
        .join(LinkedAccount, LinkedAccount.work_user_id == WorkUser.id)
        .outerjoin(Achievement, credited)
        .where(WorkUser.organization_id == organization_id,
               LinkedAccount.organization_id == organization_id, reportable_link_clause(on))
    )


def listed_users_clause(organization_id: int, on: date):
    """The organization's work users the Skills report lists on ``on``: current users with an
    active link, and deleted ones with a reportable link until their removal date.

    Current users are told by WorkUser.link_flags, which the index ix_work_users_org_email_links
    holds: counting and paging 100,000 of them reads that index alone. Only the few recently
    deleted users have their links looked up.
    """
    return and_(WorkUser.organization_id == organization_id, or_(*_listed_parts(organization_id, on)))


def _listed_parts(organization_id: int, on: date):
    """The two kinds of listed users (the caller keeps the organization's)."""
    current = and_(WorkUser.deleted_at.is_(None), WorkUser.link_flags > 0)
    recently_deleted = and_(WorkUser.deleted_at >= skills_report_cutoff(on), exists().where(
        LinkedAccount.work_user_id == WorkUser.id, LinkedAccount.organization_id == organization_id,
        reportable_link_clause(on)))
    return current, recently_deleted


@dataclass
class SkillsReportUser:
    user_id: int
    email: str
    display_name: str
    deleted_at: datetime | None
    removal_date: date | None
    mcid: str | None = None
    accounts: list = field(default_factory=list)  # (provider, account email)
    achievements: list = field(default_factory=list)  # rows


def skills_report_page(organization_id: int, page: int = 1, per_page: int = REPORT_PAGE_SIZE,
                       on: date | None = None) -> Page:
    """Linked users (with deleted ones until their removal date) and their credited exams.

    Three queries whatever the page size: count, the page's users, their rows.
    """
    on = on or today()
    listed = listed_users_clause(organization_id, on)
    # The two parts counted apart, each from its index range (PostgreSQL scanned the whole table
    # for the OR of both).
    current, recently_deleted = _listed_parts(organization_id, on)
    in_org = WorkUser.organization_id == organization_id
    total = db.session.scalar(select(
        select(func.count()).select_from(WorkUser).where(in_org, current).scalar_subquery()
        + select(func.count()).select_from(WorkUser).where(in_org, recently_deleted).scalar_subquery())) or 0
    page = page_number(page, total, per_page)
    user_ids = list(db.session.scalars(
        select(WorkUser.id).where(listed).order_by(WorkUser.email).limit(per_page)
        .offset((page - 1) * per_page)))
    users: dict[int, SkillsReportUser] = {}
    if user_ids:
        rows = db.session.execute(
            _skills_rows_select(organization_id, on).where(WorkUser.id.in_(user_ids))
            .order_by(WorkUser.email, LinkedAccount.provider, Achievement.completed_on, Achievement.id))
        for row in rows:
            user = users.get(row.user_id)
            if user is None:
                user = users[row.user_id] = SkillsReportUser(
                    row.user_id, row.email, row.display_name, row.deleted_at,
                    skills_report_removal_date(row.deleted_at) if row.deleted_at else None)
            account = (row.provider, row.account_email)
            if account not in user.accounts:
                user.accounts.append(account)
            if row.mcid:
                user.mcid = row.mcid
            if row.kind is not None:
                user.achievements.append(row)
    return Page([users[i] for i in user_ids if i in users], page, per_page, total)


def driver_rows(connection, statement, batch: int):
    """The rows of ``statement`` as the driver's tuples, ``batch`` at a time, read on
    ``connection`` (its transaction) through a plain cursor, or a named (server-side) one on
    PostgreSQL so that the rows are not all held in memory.

    Kept speed-up: read as SQLAlchemy Rows (``yield_per``, ``partitions()``), the 100k-user
    download took 2.01 / 2.08 s against 1.56 / 1.61 s this way (`bash bench/run.sh --only
    report`, alternating runs). The statement's values (the organization's id, dates and
    constants) are rendered as literals by SQLAlchemy's compiler.
    """
    dialect = connection.dialect
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.paramstyle in ("format", "pyformat"):
        sql = sql.replace("%%", "%")  # run without parameters: no placeholders to escape
    dbapi_connection = connection.connection.dbapi_connection
    cursor = (dbapi_connection.cursor(name="skills_report_csv") if dialect.name == "postgresql"
              else dbapi_connection.cursor())
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


def skills_report_csv_header() -> list[str]:
    return [_("Work email"), _("Name"), _("Organization"), _("Partner ID"), _("Source"), _("MCID"),
            _("Learning account"), _("Type"), _("Code"), _("Title"), _("Level"), _("Completed on"),
            _("Credited on"), _("Account status"), _("Listed until")]


def skills_report_csv(organization: Organization, on: date | None = None, batch: int = CSV_BATCH):
    """The Skills report as CSV text chunks: one line per credited certification or assessment,
    and one line for a linked user with none (see the module docstring for how it streams)."""
    on = on or today()
    kinds = {"certification": _("Certification"), "assessment": _("Assessment")}
    levels = {"intermediate": _("Intermediate"), "advanced": _("Advanced")}
    active, deleted = _("Active"), _("Deleted")
    organization_name, partner_id = organization.name, organization.partner_id
    credited = and_(Achievement.link_id == LinkedAccount.id, Achievement.credit_on <= on,
                    Achievement.kind.in_(REPORTED_KINDS))
    statement = (
        select(LinkedAccount.id, WorkUser.email, WorkUser.display_name, LinkedAccount.provider,
               LinkedAccount.mcid, LinkedAccount.email, cast(WorkUser.deleted_at, String),
               Achievement.kind, Achievement.code, Achievement.title, Achievement.level,
               # Dates as YYYY-MM-DD text, which is what the file shows.
               cast(Achievement.completed_on, String), cast(Achievement.credit_on, String))
        .select_from(LinkedAccount)
        .join(WorkUser, WorkUser.id == LinkedAccount.work_user_id)
        .outerjoin(Achievement, credited)
        .where(LinkedAccount.organization_id == organization.id, WorkUser.organization_id == organization.id,
               reportable_link_clause(on))
        # The order of the links index: the database only sorts each link's few achievements.
        .order_by(LinkedAccount.work_user_id, LinkedAccount.id, Achievement.completed_on, Achievement.id))

    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def encoded(cells) -> str:
        """Cells as one CSV line (without its CRLF), quoted by the csv module."""
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()[:-2]

    # Kept speed-up: a link's cells are encoded once for all its lines, an item's once for the
    # whole report. Writing every line through csv.writer instead made the 100k-user download
    # 5.1x the sqlite3 floor (13.3 s) in `bash bench/run.sh --only report`, against 1.9x with this.
    items: dict[tuple, str] = {}
    # The cells every line shares (organization, source, a current user's status) are made safe
    # and encoded once for the whole file, not once per link.
    organization_cells = [safe_cell(organization_name), safe_cell(partner_id)]
    source_cells = {code: safe_cell(provider_label(code)) for code in (LEARN, PARTNER_UNIVERSITY)}
    active_status = encoded([active, ""])
    yield encoded(skills_report_csv_header()) + "\r\n"
    current_link, link_cells, status = None, "", ""
    for rows in driver_rows(db.session.connection(), statement, batch):
        lines = []
        for (link_id, email, name, provider, mcid, account_email, deleted_at,
             kind, code, title, level, completed_on, credit_on) in rows:
            if link_id != current_link:
                current_link = link_id
                link_cells = encoded([safe_cell(email), safe_cell(name), *organization_cells,
                                      source_cells.get(provider) or safe_cell(provider),
                                      safe_cell(mcid), safe_cell(account_email)])
                status = active_status if deleted_at is None else encoded([
                    deleted, skills_report_removal_date(date.fromisoformat(deleted_at[:10])).isoformat()])
            if kind is None:  # a linked user without any credited exam
                lines.append(f"{link_cells},,,,,,,{status}\r\n")
                continue
            key = (kind, code, title, level)
            item = items.get(key)
            if item is None:
                if len(items) > 10_000:  # a catalog this large would not repeat much anyway
                    items.clear()
                item = items[key] = encoded([kinds.get(kind, kind), safe_cell(code), safe_cell(title),
                                             levels.get(level, "")])
            lines.append(f"{link_cells},{item},{completed_on[:10]},{credit_on[:10]},{status}\r\n")
        yield "".join(lines)
