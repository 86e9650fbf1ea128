"""Values and filters every template can use."""
from datetime import date, datetime, tzinfo
from functools import cache, lru_cache

from babel import Locale, dates
from flask import current_app, g
from flask_babel import (format_decimal, get_locale, get_timezone, lazy_gettext as _l,
                         to_user_timezone)
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from .clock import clock_is_simulated, now
from .linking.rules import provider_label
from .models import (END_REASON_MOVED, END_REASON_MOVED_USER, END_REASON_REMOVED, END_REASON_USER_DELETED, LEARN,
                     ROLE_ACCOUNT_ADMIN, ROLE_GLOBAL_ADMIN, ROLE_PARTNER_ADMIN)
from .permissions import can_administer_users, can_view_reports, is_global_admin, is_operator


def register_template_helpers(app) -> None:
    @app.context_processor
    def inject_common():
        return {
            # Shown in a banner whenever the simulated date differs from real time.
            "simulated_now": now() if clock_is_simulated() else None,
            "provider_label": provider_label,
            "LEARN": LEARN,
            # What the navigation offers: the same checks the pages' guards use.
            "can_administer_users": can_administer_users,
            "can_view_reports": can_view_reports,
            "is_global_admin": is_global_admin,
            "is_operator": is_operator,
            "role_label": role_label,
            "end_reason_label": end_reason_label,
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
    """Flask-Babel's ``format_date(value, "long")``: a date (or a datetime, in the user's
    timezone) as a long date in the page language."""
    if not value:
        return ""
    if isinstance(value, datetime):
        value = to_user_timezone(value).date()
    return _formatted_date(value, get_locale() or Locale("en"))


def medium_datetime(value) -> str:
    """Flask-Babel's ``format_datetime(value, "medium")``: a moment in the user's timezone, in
    the page language."""
    if not value:
        return ""
    return _formatted_datetime(value, get_timezone(), get_locale() or Locale("en"))


# Pages show the same few dates again and again (a user's links, achievements and attempts; a
# report's rows), and Babel formats each from its pattern every time: the strings are kept per
# process (a memo per request before). bench/run.sh --only flow, two runs each: GET /profile
# median 3.25 → 2.95 ms, link flow in-process 64.4 → 61.0 ms.
@lru_cache(maxsize=8192)
def _formatted_date(day: date, locale: Locale) -> str:
    return dates.format_date(day, "long", locale=locale)


@lru_cache(maxsize=8192)
def _formatted_datetime(moment: datetime, timezone: tzinfo, locale: Locale) -> str:
    return dates.format_datetime(moment, _medium_datetime_pattern(str(locale)), tzinfo=timezone,
                                 locale=locale)


@cache
def _medium_datetime_pattern(locale_name: str) -> str:
    """The locale's medium pattern, with the usual am/pm marker where CLDR uses flexible day
    periods: zh-Hant's "Bh:mm:ss" reads "中午12:52:57" (noon); "ah:mm:ss" reads "下午12:52:57"."""
    locale = Locale.parse(locale_name)
    time = locale.time_formats["medium"].pattern
    if "B" not in time:
        return "medium"
    return (locale.datetime_formats["medium"].replace("{1}", locale.date_formats["medium"].pattern)
            .replace("{0}", time.replace("B", "a")))


def number(value, digits: int | None = None) -> str:
    """A count or score in the page language: 1,234.5 / 1 234,5; ``digits`` rounds first."""
    if value is None:
        return ""
    return format_decimal(round(value, digits) if digits is not None else value)


# Lazy: only the label a page shows is translated, when it is shown.
ROLE_LABELS = {
    ROLE_GLOBAL_ADMIN: _l("Global admin"),
    ROLE_ACCOUNT_ADMIN: _l("Account admin"),
    ROLE_PARTNER_ADMIN: _l("Partner admin"),
}
END_REASON_LABELS = {
    END_REASON_REMOVED: _l("Removed by you"),
    END_REASON_MOVED: _l("Moved to another organization"),
    END_REASON_MOVED_USER: _l("Moved to another work account"),
    END_REASON_USER_DELETED: _l("Work account deleted"),
}


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def end_reason_label(reason: str | None) -> str:
    return str(END_REASON_LABELS.get(reason or "", reason or ""))
