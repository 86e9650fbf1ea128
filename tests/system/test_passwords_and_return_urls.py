"""Passwords (hashing, lengths) and return URLs that never leave the site or the issuer."""
from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from tests.fixtures.flows import DEMO_PASSWORD, post_sign_in
from webapp import users, validation
from webapp.extensions import db
from webapp.models import Organization
from webapp.safe_urls import safe_next_url


def _csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


# ---------------------------------------------------------------- passwords

def test_passwords_are_scrypt_hashed_by_default(app_ctx):
    from idp_mock.config import config_from_env
    from webapp.config import Config

    assert Config.PASSWORD_HASH_METHOD == "scrypt"
    assert config_from_env()["IDP_PASSWORD_HASH"] == "scrypt"
    app_ctx.config["PASSWORD_HASH_METHOD"] = Config.PASSWORD_HASH_METHOD
    org = db.session.scalar(select(Organization))
    user = users.create_work_user(org, "hash@contoso.com", "Hash", "Long-enough-1")
    assert user.password_hash.startswith("scrypt:")
    assert "Long-enough-1" not in user.password_hash


@pytest.mark.parametrize("length", [8, 64, 128, 200])
def test_webapp_accepts_long_passwords(app, length):
    password = ("Pw-9é中" * 60)[:length]
    with app.app_context():
        org = db.session.scalar(select(Organization))
        users.create_work_user(org, f"long{length}@contoso.com", "Long", password)
    assert post_sign_in(app.test_client(), f"long{length}@contoso.com", password).status_code == 302


def test_webapp_refuses_passwords_shorter_than_8(app):
    with app.test_request_context():
        org = db.session.scalar(select(Organization))
        with pytest.raises(validation.ValidationError, match="at least 8"):
            users.create_work_user(org, "short@contoso.com", "Short", "Seven77")


@pytest.mark.parametrize("length,accepted", [(7, False), (8, True), (128, True), (200, True)])
def test_provider_password_length(idp, length, accepted):
    client = idp.app.test_client()
    password = ("Pw-9é中" * 60)[:length]
    email = f"len{length}-{time.monotonic_ns()}@outlook.com"
    page = client.get("/partner-university/signup")
    response = client.post("/partner-university/signup", data={
        "csrf_token": _csrf_from(page.get_data(as_text=True)), "email": email,
        "display_name": "Len", "password": password, "confirm": password})
    if not accepted:
        assert response.status_code == 200 and "at least 8" in response.get_data(as_text=True)
        return
    assert response.status_code == 302
    fresh = idp.app.test_client()
    page = fresh.get("/partner-university/signin")
    signed_in = fresh.post("/partner-university/signin", data={
        "csrf_token": _csrf_from(page.get_data(as_text=True)), "email": email, "password": password})
    assert signed_in.status_code == 302


# ---------------------------------------------------------------- return URLs

HOSTILE_TARGETS = [
    "//evil.example", "https:evil.example", "/\\evil.example", "\\\\evil.example",
    "https://evil.example/profile", "http://localhost.evil.example/", "javascript:alert(1)",
    "%2F%2Fevil.example", "/%2F/evil.example", "/%5Cevil.example", "%5C%5Cevil.example",
    "/%252F%252Fevil.example", "/%09/evil.example", "/\t/evil.example", "/\r\nSet-Cookie:x=1",
    "//%65vil.example", "https%3A%2F%2Fevil.example", " //evil.example", "///evil.example",
    "data:text/html,<script>alert(1)</script>", "evil.example", "",
]


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_safe_next_url_falls_back_for_hostile_targets(target):
    assert safe_next_url(target, "/profile") == "/profile"


@pytest.mark.parametrize("target", ["/profile", "/profile?tab=learn", "/link/learn/start"])
def test_safe_next_url_keeps_local_paths(target):
    assert safe_next_url(target, "/fallback") == target


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_login_next_never_leaves_the_site(app, target):
    from urllib.parse import quote
    client = app.test_client()
    page = client.get("/login?next=" + quote(target, safe=""))
    response = client.post("/login?next=" + quote(target, safe=""), data={
        "csrf_token": _csrf_from(page.get_data(as_text=True)), "email": "alex@contoso.com",
        "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"


@pytest.mark.parametrize("target", HOSTILE_TARGETS + ["/partner-university/account", "/learn/../evil"])
def test_provider_next_never_leaves_the_issuer(idp, target):
    from urllib.parse import quote
    client = idp.app.test_client()
    page = client.get("/learn/signin?next=" + quote(target, safe=""))
    response = client.post("/learn/signin?next=" + quote(target, safe=""), data={
        "csrf_token": _csrf_from(page.get_data(as_text=True)),
        "email": "alex.learner@outlook.com", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/learn/") and not location.startswith("//")
    assert "evil" not in location or location == "/learn/../evil"
