"""Who may open what: the role checks of the webapp and the one decorator that applies them."""
from __future__ import annotations

from functools import wraps

from flask import abort, current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from .models import ROLE_ACCOUNT_ADMIN, ROLE_GLOBAL_ADMIN, ROLE_PARTNER_ADMIN

USER_ADMIN_ROLES = (ROLE_GLOBAL_ADMIN, ROLE_ACCOUNT_ADMIN)
REPORT_ROLES = (ROLE_GLOBAL_ADMIN, ROLE_PARTNER_ADMIN)

USER_ADMIN_REFUSED = _l("Only a Global admin or an Account admin of your organization can "
                        "manage work users.")
OPERATOR_REFUSED = _l("Only the installation operator can do this: it changes the whole "
                      "installation, every organization included.")


def _active(user) -> bool:
    return (user is not None and getattr(user, "is_authenticated", False)
            and user.deleted_at is None)


def is_operator(user) -> bool:
    """The trainer / QA lead: the clock, the demo reset and the all-organization data refresh act
    on the whole installation, so they belong to no organization's admin. Named by configuration
    (LEARNLINK_OPERATORS): a database flag would not survive the demo reset it is needed for."""
    return _active(user) and user.email in current_app.config.get("OPERATORS", ())


def can_administer_users(user) -> bool:
    """A Global admin or Account admin manages the work users of their own organization."""
    return _active(user) and user.has_role(*USER_ADMIN_ROLES)


def can_view_reports(user) -> bool:
    """The seeds: any Global admin or (MPN) Partner admin can view and download the Skills report."""
    return _active(user) and user.has_role(*REPORT_ROLES)


def is_global_admin(user) -> bool:
    return _active(user) and user.has_role(ROLE_GLOBAL_ADMIN)


def allowed(check, message=None):
    """View decorator: sign-in first, then 403 (with ``message``) unless ``check(current_user)``.

    Also guards a whole blueprint when applied to its ``before_request`` function.
    """
    def decorator(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if not check(current_user):
                abort(403, description=str(message) if message else None)
            return view(*args, **kwargs)
        return login_required(guarded)
    return decorator
