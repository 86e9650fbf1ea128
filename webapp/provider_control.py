"""Partner Center's calls to the providers' QA control API (bearer ``IDP_CONTROL_TOKEN`` at
``IDP_CONTROL_URL``): the demo reset, and the simulated clock the providers date completions by."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import requests
from flask import current_app


@dataclass
class ProviderCall:
    done: bool
    detail: str  # "ok", "not_configured", or what went wrong (no secrets)


def call_control_api(method: str, path: str, json: dict | None = None) -> ProviderCall:
    token = current_app.config.get("IDP_CONTROL_TOKEN")
    if not token:
        return ProviderCall(False, "not_configured")
    url = current_app.config["IDP_CONTROL_URL"].rstrip("/") + path
    try:
        response = requests.request(method, url, json=json,
                                    headers={"Authorization": f"Bearer {token}"},
                                    timeout=current_app.config["OIDC_HTTP_TIMEOUT"])
    except requests.RequestException as exc:
        return ProviderCall(False, type(exc).__name__)
    if response.status_code != 200:
        return ProviderCall(False, f"HTTP {response.status_code}")
    return ProviderCall(True, "ok")


def share_clock(offset: timedelta) -> ProviderCall:
    """Tell the providers the simulated clock's offset: they date completions by it."""
    result = call_control_api("PUT", "/qa/clock", {"offset_seconds": int(offset.total_seconds())})
    if not result.done and result.detail != "not_configured":
        current_app.logger.warning("the providers were not told the simulated clock (%s)", result.detail)
    return result
