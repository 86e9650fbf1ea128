"""The audit log: read-only pages for the Global admin of an organization (no edit, no delete)."""
from flask import Blueprint, Response, render_template
from flask_login import current_user

from ..permissions import allowed, is_global_admin
from ..spreadsheet import csv_text
from .service import action_label, audit_csv_rows, audit_rows

bp = Blueprint("audit", __name__, url_prefix="/audit")

PAGE_SIZE = 500


@bp.before_request
@allowed(is_global_admin)
def global_admin_only() -> None:
    return None


@bp.get("/")
def log():
    events = audit_rows(current_user.organization_id, limit=PAGE_SIZE)
    return render_template("audit/log.html", events=events, page_size=PAGE_SIZE, action_label=action_label)


@bp.get("/export.csv")
def export_csv():
    filename = f"audit-log-{current_user.organization.partner_id}.csv"
    return Response(csv_text(audit_csv_rows(current_user.organization_id)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
