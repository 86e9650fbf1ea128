"""QA mode of the providers: fault scenarios, the JSON control API and the "Test scenario" panel.

- ``catalog.py``: the scenarios (name, stage, parameters, the check each should trip);
- ``arming.py``: arming, listing and clearing them (stored in the database);
- ``faults.py``: how a fault is injected at each hop of a flow;
- ``api.py``, ``api_accounts.py`` and ``api_clients.py``: the JSON API (bearer token);
- ``panel.py``: the panel on the sign-in and consent pages.
"""

from __future__ import annotations

from flask import Flask

from ..extensions import csrf
from . import api_accounts  # noqa: F401  (its routes join the API)
from . import api_clients  # noqa: F401  (its routes join the API)
from .api import api
from .api import issuer_api
from .panel import panel


def register_qa(app: Flask) -> None:
    """Mount the API and the panel when QA mode is on; otherwise they do not exist."""
    if not app.config.get("IDP_QA_MODE"):
        return
    # Bearer-token JSON for scripts and the webapp, which a cross-site form cannot send: no
    # CSRF token. The panel is a form: CSRF protected.
    csrf.exempt(api)
    csrf.exempt(issuer_api)
    app.register_blueprint(api)
    app.register_blueprint(panel)
