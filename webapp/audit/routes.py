"""The audit log: read-only pages for the Global admin of an organization (no edit, no delete)."""
import csv
import io

from flask import Blueprint, Response, abort, g, render_template, request
from flask_login import current_user, login_required

from .. import services
from ..models import ROLE_GLOBAL_ADMIN

bp = Blueprint("audit", __name__, url_prefix="/audit")

PAGE_SIZE = 500


@bp.before_app_request
def note_request_address() -> None:
    """The address every audit event of this request records (services.record_audit)."""
    g.setdefault(services.AUDIT_ADDRESS_KEY, (request.remote_addr or "")[:64])


def _require_global_admin() -> None:
    if not current_user.has_role(ROLE_GLOBAL_ADMIN):
        abort(403)


@bp.get("/")
@login_required
def log():
    _require_global_admin()
    events = services.audit_rows(current_user.organization_id, limit=PAGE_SIZE)
    return render_template("audit/log.html", events=events, page_size=PAGE_SIZE)


@bp.get("/export.csv")
@login_required
def export_csv():
    _require_global_admin()
    buffer = io.StringIO()
    csv.writer(buffer).writerows(services.audit_csv_rows(current_user.organization_id))
    filename = f"audit-log-{current_user.organization.partner_id}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
