"""Both mock providers, with their QA control API, on one loopback port: for other projects' tests.

``python -m idp_mock --port 5001`` (``__main__.py``) and the pytest plugin
(``idp_mock.pytest_plugin``) both start them through :class:`Providers`; docs/testing.md.
The webapp is not involved.
"""

from __future__ import annotations

import shutil
import tempfile
import threading

from werkzeug.serving import make_server

from .testing import DEV_CONTROL_TOKEN
from .testing import ControlClient

ISSUER_SLUGS = ("learn", "partner-university")


def _not_ready(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


class Providers:
    """Both providers served by a threaded werkzeug server on ``host:port`` (0: a free port).

    ``database_url`` None: a throwaway SQLite file, removed by :meth:`stop`; tables straight
    from the models. A given database is migrated (``flask db upgrade``) and kept.
    ``demo_accounts`` seeds the documented demo accounts (password ``Passw0rd!``).
    ``config`` is passed on to :func:`idp_mock.create_app` (e.g. ``IDP_CLIENTS``,
    ``IDP_PASSWORD_HASH``).
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, database_url: str | None = None,
                 control_token: str = DEV_CONTROL_TOKEN, demo_accounts: bool = True,
                 config: dict | None = None):
        # Bound first, so the issuers can be named after the real port (port 0 included).
        self._server = make_server(host, port, _not_ready, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.control_token = control_token
        self._tmpdir = None
        if database_url is None:
            self._tmpdir = tempfile.mkdtemp(prefix="idp-mock-")
            database_url = f"sqlite:///{self._tmpdir}/idp.sqlite"
        try:
            self.app = self._create_app(database_url, demo_accounts, config or {})
        except BaseException:
            self._server.server_close()
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
            raise
        self._server.app = self.app
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="idp-mock-server")

    def _create_app(self, database_url: str, demo_accounts: bool, config: dict):
        from . import create_app
        from .clients import register_configured_clients
        from .demo import seed_demo

        throwaway = self._tmpdir is not None
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": database_url,
            "CREATE_TABLES_WITHOUT_MIGRATIONS": throwaway,
            "IDP_PUBLIC_URL": self.url,
            "IDP_QA_MODE": True,
            "IDP_CONTROL_TOKEN": self.control_token,
            **config,
        })
        with app.app_context():
            if not throwaway:
                from flask_migrate import upgrade

                upgrade()
                register_configured_clients(app)
            if demo_accounts:
                seed_demo()
        return app

    def issuer_url(self, issuer: str) -> str:
        return f"{self.url}/{issuer}"

    def discovery_url(self, issuer: str) -> str:
        return f"{self.url}/{issuer}/.well-known/openid-configuration"

    def control(self, timeout: float = 10):
        """A client of the QA control API of these providers."""
        return ControlClient(self.url, self.control_token, timeout=timeout)

    def start(self) -> "Providers":
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        with self.app.app_context():
            from .extensions import db

            db.engine.dispose()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> "Providers":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
