"""Error pages of the providers (the QA API answers its errors in JSON itself)."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from .models import db

bp = Blueprint("errors", __name__)


def provider_error(title, description, status=400):
    return render_template("idp/error.html", title=title, description=description), status


@bp.app_errorhandler(CSRFError)
def handle_csrf_error(error):
    return provider_error(_("Your session expired"), _("Please try again."))


@bp.app_errorhandler(404)
def handle_not_found(error):
    return provider_error(_("Page not found"),
                          _("Check the address, or start again from the application."), 404)


@bp.app_errorhandler(405)
def handle_method_not_allowed(error):
    return provider_error(_("That action is not allowed here"),
                          _("Start again from the application."), 405)


@bp.app_errorhandler(500)
def handle_internal_error(error):
    # The traceback goes to the log (with the request id), never to the page.
    db.session.rollback()
    return provider_error(_("Something went wrong"),
                          _("Nothing was changed. Please try again in a moment."), 500)
