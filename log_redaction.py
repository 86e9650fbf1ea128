"""Keep secrets out of log records.

Authlib logs whole token responses and the PKCE verifier at DEBUG level ("Issue token %r",
"Using code_verifier: %r"). The filter rewrites any record so that the values of secret
fields are replaced, whatever level an operator turns logging up to.
"""
from __future__ import annotations

import logging
import re

SECRET_KEYS = ("access_token", "id_token", "refresh_token", "code_verifier", "client_secret",
               "password", "code")
_SECRET_VALUE = re.compile(
    r"""(?P<key>['"]?\b(?:%s)\b['"]?\s*[:=]\s*)(?P<quote>['"]?)(?P<value>[^'"\s,&}]+)"""
    % "|".join(SECRET_KEYS))


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


def install() -> None:
    """Redact every log record of the process when it is created.

    A filter on the ``authlib`` logger would not see records of its child loggers, and
    handlers come and go (gunicorn's, pytest's), so the hook is the record factory.
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
