"""Hostile bytes in the request must not turn into a 500.

* Raw non-ASCII bytes in the query string: a client can send bytes such as 0xFF unencoded in
  the request line; the server hands them to the app as latin-1 text, and werkzeug's strict
  UTF-8 decode of ``request.args`` then raises. Percent-encoding them first gives the app the
  same bytes in their legal form.
* NUL characters: PostgreSQL refuses them in text (the driver raises before the query runs),
  and no field of ours can contain one. Requests that carry one are refused with a 400.
* Ids past the database's integer range in a URL: no such page (404), never a query that
  overflows in the driver (500).
"""
from urllib.parse import quote

from flask import abort, request
from werkzeug.routing import IntegerConverter

# The largest row id both databases store: the id columns are INTEGER, 32-bit on PostgreSQL
# ("integer out of range" past it) and 64-bit on SQLite (OverflowError past 2^63). A bigger id
# in a URL must never reach a query.
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """``<int:...>`` for a whole app: an id past MAX_ROW_ID does not match the route (404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        bound = MAX_ROW_ID if max is None or max > MAX_ROW_ID else max
        super().__init__(map, fixed_digits, min, bound, signed)

_SAFE = "/?&=+%:;,@!$'()*~[]"


class PercentEncodeRawQuery:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if query and not query.isascii():
            environ["QUERY_STRING"] = quote(query.encode("latin-1", "replace"), safe=_SAFE)
        return self.wsgi_app(environ, start_response)


def _has_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in v for v in vals) for key, vals in values.lists())


def refuse_nul_characters():
    """before_request: 400 for a NUL anywhere in the path, the query or a form field."""
    if "\x00" in request.path or _has_nul(request.args):
        abort(400)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") \
            and _has_nul(request.form):
        abort(400)


def init_request_hardening(app) -> None:
    app.wsgi_app = PercentEncodeRawQuery(app.wsgi_app)
    app.before_request(refuse_nul_characters)
