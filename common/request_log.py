"""Request logging shared by the webapp and the identity providers.

- ``/favicon.ico``: the product icon.
- ``/healthz``: the process is up (no database access).
- ``/readyz``: the database answers; 503 when it does not.
- One JSON object per log line, each carrying the request id.
- ``X-Request-ID``: accepted from the caller when well-formed, otherwise generated; returned
  on every response. The webapp sends it on its back-channel calls to the providers, so one
  linking flow can be followed across both servers' logs.
- Secrets never reach a log record (see :func:`install_redaction`).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, jsonify, redirect, request, url_for
from sqlalchemy import text

REQUEST_ID_HEADER = "X-Request-ID"
SECRET_KEYS = ("access_token", "id_token", "refresh_token", "code_verifier", "client_secret",
               "password", "code")
_SECRET_VALUE = re.compile(
    r"""(?P<key>['"]?\b(?:%s)\b['"]?\s*[:=]\s*)(?P<quote>['"]?)(?P<value>[^'"\s,&}]+)"""
    % "|".join(SECRET_KEYS))
# Caller-supplied ids are echoed into logs and headers: keep them short and plain.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


def current_request_id() -> str | None:
    if has_request_context():
        return g.get("request_id")
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line; never includes request bodies or query strings."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        for key in ("method", "path", "status", "duration_ms", "remote_addr"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def redact_text(text: str) -> str:
    return _SECRET_VALUE.sub(lambda m: f"{m['key']}{m['quote']}[redacted]", text)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string is not ours to fix here
        return
    redacted = redact_text(message)
    if redacted != message:
        record.msg, record.args = redacted, ()


def install_redaction() -> None:
    """Redact every log record of the process when it is created.

    Authlib logs whole token responses and the PKCE verifier at DEBUG level ("Issue token %r",
    "Using code_verifier: %r"): the values of secret fields are replaced, whatever level an
    operator turns logging up to. A filter on the ``authlib`` logger would not see records of
    its child loggers, and handlers come and go (gunicorn's, pytest's), so the hook is the
    record factory.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts_secrets", False):
        return

    def factory(*args, **kwargs):
        record = current(*args, **kwargs)
        _redact_record(record)
        return record

    factory.redacts_secrets = True
    logging.setLogRecordFactory(factory)


def _configure_logging(app: Flask, service: str) -> None:
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)
    if not any(getattr(h, "_learnlink_json", False) for h in app.logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter(service))
        handler._learnlink_json = True  # type: ignore[attr-defined]
        app.logger.addHandler(handler)
    app.logger.setLevel(app.config.get("LOG_LEVEL") or os.environ.get("LOG_LEVEL", "INFO"))
    app.logger.propagate = False


def init_request_log(app: Flask, db, service: str) -> None:
    """Request ids, redacted JSON request logs, /healthz and /readyz for ``app`` (whose
    database is ``db``)."""
    install_redaction()
    _configure_logging(app, service)

    @app.before_request
    def assign_request_id():
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = supplied if _VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        if request.path not in ("/healthz", "/readyz") and not request.path.startswith("/static/"):
            app.logger.info(
                "request", extra={
                    "method": request.method,
                    "path": request.path,  # never the query string: it carries codes and states
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
                    "remote_addr": request.remote_addr,
                })
        return response

    def healthz():
        return jsonify(status="ok")

    def readyz():
        try:
            db.session.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not ready"
            db.session.rollback()
            app.logger.warning("database unreachable: %s", type(exc).__name__)
            return jsonify(status="unavailable", database="unreachable"), 503
        finally:
            db.session.remove()
        return jsonify(status="ready", database="ok")

    def favicon():
        # Browsers ask for /favicon.ico whatever the page links; answer with the real icon.
        return redirect(url_for("static", filename="favicon.svg"), 301)

    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.add_url_rule("/favicon.ico", "favicon", favicon)
