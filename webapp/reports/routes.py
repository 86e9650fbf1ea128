"""Reports pages: organization-scoped, for Global admins and partner admins only."""
from flask import (Blueprint, Response, flash, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user

from ..clock import today
from ..permissions import allowed, can_view_reports
from .analytics import (LINK_STATUS_BOTH, LINK_STATUS_LEARN, LINK_STATUS_NONE, LINK_STATUS_UNIVERSITY,
                        learn_analytics_page)
from .credit import skills_report_removal_date
from .forms import RefreshForm
from .jobs import last_refresh, latest_job, request_refresh
from .refresh import summary
from .skilling_points import skilling_points, skilling_points_config
from .skills_report import skills_report_csv, skills_report_page

bp = Blueprint("reports", __name__, url_prefix="/reports")

# Where the refresh button may send the admin back to (never a URL from the request).
RETURN_ENDPOINTS = ("reports.index", "reports.skills", "reports.learn_analytics", "reports.skilling")


@bp.before_request
@allowed(can_view_reports)
def require_report_role():
    return None


def _page_arg() -> int:
    return request.args.get("page", 1, type=int) or 1


def _render(template: str, endpoint: str, **context):
    return render_template(template, refresh_form=RefreshForm(back_to=endpoint),
                           last_refresh=last_refresh(current_user.organization_id),
                           refresh_job=latest_job(current_user.organization_id), refresh_summary=summary,
                           today=today(),
                           organization=current_user.organization, **context)


@bp.get("/")
def index():
    return _render("reports/index.html", "reports.index")


@bp.get("/skills")
def skills():
    page = skills_report_page(current_user.organization_id, _page_arg())
    return _render("reports/skills.html", "reports.skills", page=page)


@bp.get("/skills.csv")
def skills_csv():
    organization = current_user.organization
    chunks = skills_report_csv(organization)
    filename = f"skills-report-{organization.partner_id}-{today().isoformat()}.csv"
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


@bp.get("/learn-analytics")
def learn_analytics():
    page, totals = learn_analytics_page(current_user.organization_id, _page_arg())
    return _render("reports/learn_analytics.html", "reports.learn_analytics", page=page, totals=totals)


@bp.get("/skilling-points")
def skilling():
    # Not passed to the template as ``config``: that name is Flask's settings there (the top bar
    # reads config.DEMO_MODE).
    areas = skilling_points(current_user.organization_id, config=skilling_points_config())
    return _render("reports/skilling_points.html", "reports.skilling", areas=areas)


@bp.post("/refresh")
def refresh():
    form = RefreshForm()
    back_to = form.back_to.data if form.back_to.data in RETURN_ENDPOINTS else "reports.index"
    if not form.validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for(back_to))
    # The admin's own organization only: every organization is the operator's refresh. A worker
    # runs it (flask refresh-worker); its progress is on every report page.
    _job, created = request_refresh(current_user.organization_id, "admin")
    if created:
        flash(_("Data refresh started. Its progress is shown above the report; reload the page "
                "to follow it."), "success")
    else:
        flash(_("A data refresh of your organization is already running; its progress is shown "
                "above the report."), "info")
    return redirect(url_for(back_to))


@bp.app_context_processor
def inject_report_labels():
    """Labels for achievements and report values, used by the reports and My Learn profile."""
    return {"kind_label": kind_label, "level_label": level_label,
            "link_status_label": link_status_label, "removal_date": skills_report_removal_date}


# Only the label asked for is translated: a report page asks for hundreds.
def kind_label(kind: str | None) -> str:
    if kind == "certification":
        return _("Certification")
    if kind == "assessment":
        return _("Assessment")
    if kind == "training":
        return _("Training")
    return kind or ""


def level_label(level: str | None) -> str:
    if level == "intermediate":
        return _("Intermediate")
    if level == "advanced":
        return _("Advanced")
    return "—"


# Translated when shown (lazy_gettext), once per row of the report rather than the whole table.
LINK_STATUS_LABELS = {LINK_STATUS_NONE: _l("Not linked"),
                      LINK_STATUS_LEARN: _l("Linked to Microsoft Learn"),
                      LINK_STATUS_UNIVERSITY: _l("Linked to Partner University"),
                      LINK_STATUS_BOTH: _l("Linked to both")}


def link_status_label(status: str) -> str:
    return str(LINK_STATUS_LABELS.get(status, status))
