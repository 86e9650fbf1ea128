"""Error pages: a plain message, never a traceback."""
from flask import Blueprint, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Forbidden

from ..extensions import db

bp = Blueprint("errors", __name__)


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    return render_template("errors/error.html", code=400, error=error), 400


@bp.app_errorhandler(403)
def forbidden(error):
    # The guard's own reason (permissions.allowed), else the page's general one.
    message = error.description if error.description != Forbidden.description else None
    return render_template("errors/error.html", code=403, error=error, message=message), 403


@bp.app_errorhandler(404)
def not_found(error):
    return render_template("errors/error.html", code=404, error=error), 404


@bp.app_errorhandler(405)
def method_not_allowed(error):
    return render_template("errors/error.html", code=405, error=error), 405


@bp.app_errorhandler(500)
def internal_error(error):
    db.session.rollback()
    return render_template("errors/error.html", code=500, error=None), 500
