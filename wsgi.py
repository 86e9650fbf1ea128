"""WSGI entry points for production servers.

    gunicorn -w 4 -b 127.0.0.1:5000 'wsgi:app'       # Partner Center (webapp)
    gunicorn -w 4 -b 127.0.0.1:5001 'wsgi:idp_app'   # the identity providers

Each app is created on first access, so a process serving one never builds the other.
Both read their configuration from the environment (docs/configuration.md).
"""
from __future__ import annotations

_apps: dict = {}


def __getattr__(name: str):
    if name not in ("app", "idp_app"):
        raise AttributeError(name)
    if name not in _apps:
        if name == "app":
            from webapp import create_app
        else:
            from idp_mock import create_app
        _apps[name] = create_app()
    return _apps[name]
