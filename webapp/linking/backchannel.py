"""Every back-channel call to a provider (discovery, JWKS, token, userinfo, transcript API) goes
through :class:`BackChannelSession`: a total deadline per call and a cap on the answer's size.

requests only has a per-read timeout: a provider sending one byte every few seconds never trips
it, and a huge answer is read whole into memory. Here the body is streamed (``stream=True``) and
counted against ``OIDC_HTTP_MAX_BYTES`` and a monotonic deadline (``OIDC_HTTP_TIMEOUT``), and a
watchdog shuts the connection's socket when the deadline passes, so a drip-fed status line or
chunk cannot hold the worker either.
"""
from __future__ import annotations

import socket
import threading
import time

import requests
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app, has_app_context
from flask_babel import gettext as _, ngettext
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from common.request_log import REQUEST_ID_HEADER, current_request_id

DEFAULT_DEADLINE = 10.0
DEFAULT_MAX_BYTES = 1024 * 1024
CHUNK = 64 * 1024


class BackChannelLimit(requests.RequestException):
    """A provider's answer broke one of the back-channel limits."""


class DeadlineExceeded(BackChannelLimit, requests.Timeout):
    """No complete answer within the call's total deadline (a Timeout, as callers expect)."""

    def __init__(self, seconds: float):
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


class ResponseTooLarge(BackChannelLimit):
    def __init__(self, max_bytes: int):
        super().__init__(f"answer larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


def refresh_limit_message(provider_label: str, exc: BackChannelLimit) -> str:
    """The data refresh's message for a transcript call past its deadline or size cap."""
    if isinstance(exc, ResponseTooLarge):
        return _("%(provider)s sent an answer too large (transcript, over %(size)s KiB). Nothing "
                 "was changed; try again later.", provider=provider_label, size=exc.max_bytes // 1024)
    return ngettext("%(provider)s did not answer in time (transcript, %(seconds)s second). Nothing "
                    "was changed; try again in a moment.",
                    "%(provider)s did not answer in time (transcript, %(seconds)s seconds). Nothing "
                    "was changed; try again in a moment.", exc.seconds, provider=provider_label,
                    seconds=f"{exc.seconds:g}")


def limits() -> tuple[float, int]:
    """(total seconds per call, most bytes per answer) from the app's configuration."""
    if not has_app_context():
        return DEFAULT_DEADLINE, DEFAULT_MAX_BYTES
    config = current_app.config
    return (float(config.get("OIDC_HTTP_TIMEOUT") or DEFAULT_DEADLINE),
            int(config.get("OIDC_HTTP_MAX_BYTES") or DEFAULT_MAX_BYTES))


# ---------------------------------------------------------------- the watchdog

_current = threading.local()  # the watch of the call this thread is making


class _Watch:
    """Shuts the call's sockets down when its deadline passes (a blocked read then returns)."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def add(self, sock) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shutdown(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _watch_socket(sock) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(sock)


class _WatchedConnectionMixin:
    def connect(self):
        super().connect()
        _watch_socket(self.sock)

    def getresponse(self, *args, **kwargs):
        _watch_socket(self.sock)  # a kept-alive connection, reused by a later call
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


# ---------------------------------------------------------------- the session


class BackChannelSession(OAuth2Session):
    """Authlib's requests session (Authlib's OAuth client uses it as ``client_cls``; the transcript
    refresh uses it directly) with the deadline, the size cap and the current request id."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline, self.max_bytes = limits()
        adapter = _WatchedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        # Compressed answers would be counted after inflating, but inflated in large steps.
        self.headers["Accept-Encoding"] = "identity"
        request_id = current_request_id()
        if request_id:
            # The providers' logs show the same flow.
            self.headers[REQUEST_ID_HEADER] = request_id

    def request(self, method, url, *args, **kwargs):
        started = time.monotonic()
        timeout = kwargs.get("timeout") or self.default_timeout or self.deadline
        read = timeout[1] if isinstance(timeout, tuple) else timeout
        kwargs["timeout"] = min(float(read or self.deadline), self.deadline)
        kwargs["stream"] = True
        watch = _current.watch = _Watch(self.deadline)
        try:
            response = super().request(method, url, *args, **kwargs)
            try:
                response._content = self._read_body(response, started)
            finally:
                response.close()
            return response
        except BackChannelLimit:
            raise
        except (requests.RequestException, OSError) as exc:
            # A read or connect timeout is this call's deadline too: one message for both.
            if isinstance(exc, requests.Timeout) or watch.expired \
                    or time.monotonic() - started >= self.deadline:
                raise DeadlineExceeded(self.deadline) from exc
            raise
        finally:
            watch.cancel()
            _current.watch = None

    def _read_body(self, response, started: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ResponseTooLarge(self.max_bytes)
        body, size = [], 0
        for chunk in response.iter_content(CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise ResponseTooLarge(self.max_bytes)
            if time.monotonic() - started > self.deadline:
                raise DeadlineExceeded(self.deadline)
            body.append(chunk)
        return b"".join(body)
