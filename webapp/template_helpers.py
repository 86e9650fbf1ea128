"""Values and filters every template can use."""
from datetime import date, datetime
from functools import lru_cache

from babel import dates
from flask import current_app, g
from flask_babel import format_decimal, get_locale, get_timezone, gettext as _, to_user_timezone
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from .clock import clock_is_simulated, now
from .linking.rules import provider_label
from .models import (END_REASON_MOVED, END_REASON_MOVED_USER, END_REASON_REMOVED, END_REASON_USER_DELETED, LEARN,
                     ROLE_ACCOUNT_ADMIN, ROLE_GLOBAL_ADMIN, ROLE_PARTNER_ADMIN)


def register_template_helpers(app) -> None:
    @app.context_processor
    def inject_common():
        return {
            # Shown in a banner whenever the simulated date differs from real time.
            "simulated_now": now() if clock_is_simulated() else None,
            "provider_label": provider_label,
            "LEARN": LEARN,
            "ADMIN_ROLES": (ROLE_GLOBAL_ADMIN, ROLE_ACCOUNT_ADMIN),
            "REPORT_ROLES": (ROLE_GLOBAL_ADMIN, ROLE_PARTNER_ADMIN),
            "role_label": role_label,
            "end_reason_label": end_reason_label,
            "END_REASON_MOVED": END_REASON_MOVED,
        }

    app.jinja_env.filters["date"] = long_date
    app.jinja_env.filters["datetime"] = medium_datetime
    app.jinja_env.filters["number"] = number
    app.jinja_env.globals["csrf_field"] = csrf_field


def csrf_field() -> Markup:
    """The CSRF token input for a form whose only field is its button (sign out, link, remove),
    as Flask-WTF documents for forms not rendered from a FlaskForm; the routes still validate
    the token with their FlaskForm. Cheaper than building and rendering a form per button."""
    field = g.get("_csrf_field")
    if field is None:  # one token per request: the same input for every button of the page
        field = g._csrf_field = Markup('<input type="hidden" name="%s" value="%s">') % (
            current_app.config["WTF_CSRF_FIELD_NAME"], generate_csrf())
    return field


def long_date(value) -> str:
    """Flask-Babel's format_date(value, "long") (a datetime in the user's timezone first)."""
    if not value:
        return ""
    if isinstance(value, datetime):
        value = to_user_timezone(value).date()
    return _formatted_date(value, get_locale())


def medium_datetime(value) -> str:
    """Flask-Babel's format_datetime(value, "medium"), in the user's timezone."""
    if not value:
        return ""
    return _formatted_datetime(value, get_timezone(), get_locale())


# Pages show the same dates again and again (a user's links, achievements, attempts), and
# Babel's pattern formatting is a large part of rendering them: the strings are kept.
@lru_cache(maxsize=8192)
def _formatted_date(value: date, locale) -> str:
    return dates.format_date(value, "long", locale=locale)


@lru_cache(maxsize=8192)
def _formatted_datetime(value: datetime, tzinfo, locale) -> str:
    return dates.format_datetime(value, "medium", tzinfo=tzinfo, locale=locale)


def number(value, digits: int | None = None) -> str:
    """A count or score in the page language: 1,234.5 / 1 234,5; ``digits`` rounds first."""
    if value is None:
        return ""
    return format_decimal(round(value, digits) if digits is not None else value)


def role_label(role: str) -> str:
    return {
        ROLE_GLOBAL_ADMIN: _("Global admin"),
        ROLE_ACCOUNT_ADMIN: _("Account admin"),
        ROLE_PARTNER_ADMIN: _("Partner admin"),
    }.get(role, role)


def end_reason_label(reason: str | None) -> str:
    return {
        END_REASON_REMOVED: _("Removed by you"),
        END_REASON_MOVED: _("Moved to another organization"),
        END_REASON_MOVED_USER: _("Moved to another work account"),
        END_REASON_USER_DELETED: _("Work account deleted"),
    }.get(reason or "", reason or "")
