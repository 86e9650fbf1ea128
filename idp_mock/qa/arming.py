"""Arming, listing and clearing QA fault scenarios.

Armed scenarios live in the ``idp_fault_scenarios`` table, never in process memory, so every
worker process of the providers applies the same ones.

Who a scenario reaches: one armed through the control API (bearer token) reaches every flow of
its client/account filters; one armed from a page's panel reaches only the flows of the browser
session that armed it (a random panel id kept in that session, copied onto the codes it is
given), so a visitor cannot break anyone else's sign-in.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets

from flask import session

from ..models import FaultScenario
from ..models import db
from ..services import normalize_email
from ..sessions import PANEL_SESSION_KEY
from .catalog import CATALOG
from .catalog import SCOPES
from .catalog import ScenarioSpec


class ScenarioError(ValueError):
    """Invalid scenario settings; ``field`` names the offending input."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


def validate_params(spec: ScenarioSpec, params: dict | None) -> dict:
    params = params or {}
    if not isinstance(params, dict):
        raise ScenarioError("params must be a JSON object.", "params")
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ScenarioError(f"Unknown parameter for {spec.name}: {unknown[0]}.",
                            f"params.{unknown[0]}")
    clean = {}
    for key, rule in spec.params.items():
        value = params.get(key, rule.default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{key} must be a whole number.", f"params.{key}")
        if not rule.minimum <= value <= rule.maximum:
            raise ScenarioError(
                f"{key} must be between {rule.minimum} and {rule.maximum}.", f"params.{key}")
        clean[key] = value
    return clean


def arm_scenario(
    issuer: str,
    name: str,
    scope: str = "next-flow",
    client_id: str | None = None,
    account_email: str | None = None,
    params: dict | None = None,
    panel_id: str | None = None,
) -> FaultScenario:
    """Validate and store one scenario; returns the new row. ``panel_id`` limits it to the
    flows of the browser session with that panel id."""
    spec = CATALOG.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ScenarioError("Unknown scenario; see GET /qa/scenarios/catalog.", "scenario")
    if issuer not in spec.issuers:
        raise ScenarioError(f"{name} only applies at: {', '.join(spec.issuers)}.", "scenario")
    if scope not in SCOPES:
        raise ScenarioError("scope must be 'next-flow' or 'until-cleared'.", "scope")
    for key, value in (("client_id", client_id), ("account", account_email)):
        if value is not None and (not isinstance(value, str) or not value.strip()
                                  or len(value) > 255):
            raise ScenarioError(f"{key} must be a non-empty string or null.", key)
    row = FaultScenario(
        issuer=issuer,
        name=name,
        scope=scope,
        client_id=client_id.strip() if client_id else None,
        account_email=normalize_email(account_email) if account_email else None,
        params_json=json.dumps(validate_params(spec, params), sort_keys=True),
        consumed=False,
        panel_id=panel_id,
    )
    db.session.add(row)
    db.session.commit()
    return row


def list_scenarios(issuer: str, include_consumed: bool = True) -> list[FaultScenario]:
    stmt = db.select(FaultScenario).filter_by(issuer=issuer).order_by(FaultScenario.id)
    if not include_consumed:
        stmt = stmt.filter_by(consumed=False)
    return list(db.session.scalars(stmt))


def clear_scenarios(issuer: str, scenario_id: int | None = None,
                    panel_id: str | None = None) -> int:
    """Delete one scenario (by id), those of one panel id, or all of ``issuer``; returns how
    many went."""
    stmt = db.select(FaultScenario).filter_by(issuer=issuer)
    if scenario_id is not None:
        stmt = stmt.filter_by(id=scenario_id)
    if panel_id is not None:
        stmt = stmt.filter_by(panel_id=panel_id)
    rows = list(db.session.scalars(stmt))
    for row in rows:
        db.session.delete(row)
    db.session.commit()
    return len(rows)


def scenario_params(row: FaultScenario) -> dict:
    return json.loads(row.params_json or "{}")


def scenario_to_dict(row: FaultScenario) -> dict:
    return {
        "id": row.id,
        "issuer": row.issuer,
        "scenario": row.name,
        "stage": CATALOG[row.name].stage if row.name in CATALOG else None,
        "scope": row.scope,
        "client_id": row.client_id,
        "account": row.account_email,
        "armed_from": "panel" if row.panel_id else "api",
        "params": scenario_params(row),
        "consumed": row.consumed,
        "created_at": _iso(row.created_at),
        "consumed_at": _iso(row.consumed_at),
        "hits": len(row.hits),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def session_panel_id(create: bool = False) -> str | None:
    """This browser session's panel id; a new random one (never reused) when ``create``."""
    value = session.get(PANEL_SESSION_KEY)
    if not isinstance(value, str):
        value = None
    if value is None and create:
        value = session[PANEL_SESSION_KEY] = secrets.token_urlsafe(32)
    return value
