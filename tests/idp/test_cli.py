"""Application factory, persistence, signing keys (rotation, cacheable discovery and JWKS) and CLI
of the mock identity providers."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.idp_helpers import make_config
from tests.fixtures.databases import provider_database_url

from idp_mock import create_app  # noqa: E402
from common.demo_accounts import DEMO_ACCOUNTS  # noqa: E402
from common.demo_accounts import demo_accounts_markdown  # noqa: E402
from idp_mock.keys import rotate_signing_key
from idp_mock.models import Account  # noqa: E402
from idp_mock.models import OAuth2Client  # noqa: E402
from idp_mock.models import SigningKey  # noqa: E402
from idp_mock.models import db  # noqa: E402


@pytest.fixture
def app(tmp_path):
    return create_app(make_config(tmp_path / "idp.sqlite",
                                  IDP_PUBLIC_URL="http://localhost:5001"))


def _kids(app, issuer):
    return [k["kid"] for k in app.test_client().get(f"/{issuer}/jwks.json").json["keys"]]


def test_signing_keys_persist_across_app_instances(tmp_path):
    first = create_app(make_config(tmp_path / "idp.sqlite"))
    kids = {issuer: _kids(first, issuer) for issuer in ("learn", "partner-university")}
    second = create_app(make_config(tmp_path / "idp.sqlite"))
    assert {issuer: _kids(second, issuer) for issuer in kids} == kids
    with second.app_context():
        rows = db.session.scalars(db.select(SigningKey)).all()
        assert len(rows) == 2 and all(r.active and r.retired_at is None for r in rows)


def test_rotate_signing_key_keeps_old_key_published_until_retired(app):
    runner = app.test_cli_runner()
    old = _kids(app, "learn")
    result = runner.invoke(args=["rotate-signing-key", "--issuer", "learn"])
    assert result.exit_code == 0, result.output
    rotated = _kids(app, "learn")
    assert len(rotated) == 2 and old[0] in rotated
    result = runner.invoke(args=["rotate-signing-key", "--issuer", "learn", "--retire-previous"])
    assert result.exit_code == 0
    current = _kids(app, "learn")
    assert len(current) == 1 and current[0] not in rotated


def test_default_clients_come_from_webapp_url(tmp_path, monkeypatch):
    monkeypatch.delenv("IDP_CLIENTS", raising=False)
    monkeypatch.delenv("IDP_CLIENTS_FILE", raising=False)
    config = make_config(tmp_path / "idp.sqlite", IDP_CLIENTS=None,
                         WEBAPP_URL="http://pc.example:8000")
    app = create_app(config)
    with app.app_context():
        learn = db.session.scalar(db.select(OAuth2Client).filter_by(
            issuer="learn", client_id="partner-center-learn"))
        pu = db.session.scalar(db.select(OAuth2Client).filter_by(
            issuer="partner-university", client_id="partner-center-pu"))
        assert learn.redirect_uris == ["http://pc.example:8000/link/learn/callback"]
        assert pu.redirect_uris == ["http://pc.example:8000/link/partner-university/callback"]
        assert learn.post_logout_redirect_uris == ["http://pc.example:8000/profile"]
        assert learn.check_client_secret("dev-learn-secret")
        assert pu.check_client_secret("dev-pu-secret")
        assert learn.client_secret != "dev-learn-secret"  # stored hashed
        assert set(learn.grant_types) == {"authorization_code", "client_credentials"}


def test_clients_file_from_environment(tmp_path, monkeypatch):
    clients = [{"issuer": "partner-university", "client_id": "file-client",
                "client_secret": "s3cret", "client_name": "From file",
                "redirect_uris": ["https://rp.example/cb"], "scope": "openid profile email"}]
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(clients))
    monkeypatch.setenv("IDP_CLIENTS_FILE", str(path))
    app = create_app({"TESTING": True,
                      "SQLALCHEMY_DATABASE_URI": provider_database_url(tmp_path / "idp.sqlite"),
                      "CREATE_TABLES_WITHOUT_MIGRATIONS": True,
                      "IDP_PASSWORD_HASH": "pbkdf2:sha256:1000"})
    with app.app_context():
        client = db.session.scalar(db.select(OAuth2Client).filter_by(client_id="file-client"))
        assert client.issuer == "partner-university" and client.client_name == "From file"


def test_add_client_cli(app):
    result = app.test_cli_runner().invoke(args=[
        "add-client", "--issuer", "learn", "--client-id", "contoso-rp",
        "--client-secret", "very-secret-value", "--redirect-uri", "https://rp.example/cb",
        "--redirect-uri", "https://rp.example/cb2", "--name", "Contoso RP"])
    assert result.exit_code == 0, result.output
    assert "contoso-rp" in result.output
    assert "http://localhost:5001/learn/.well-known/openid-configuration" in result.output
    assert "very-secret-value" not in result.output
    with app.app_context():
        client = db.session.scalar(db.select(OAuth2Client).filter_by(client_id="contoso-rp"))
        assert client.issuer == "learn"
        assert client.redirect_uris == ["https://rp.example/cb", "https://rp.example/cb2"]
        assert client.check_client_secret("very-secret-value")
        assert client.client_name == "Contoso RP"


def test_seed_demo_cli_is_idempotent(tmp_path):
    # No quick path here: init-db applies the migrations to an empty database.
    app = create_app(make_config(tmp_path / "idp.sqlite", CREATE_TABLES_WITHOUT_MIGRATIONS=False))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0 and f"Created {len(DEMO_ACCOUNTS)}" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and "Created 0" in second.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Account.id))) == len(DEMO_ACCOUNTS)
        walt = db.session.scalar(db.select(Account).filter_by(email="walt.work@contoso.com"))
        assert walt.kind == "work" and not walt.profile.has_personal_account
        assert walt.profile.mcid == "123450001"
        nina = db.session.scalar(db.select(Account).filter_by(email="nina.nomcid@outlook.com"))
        assert nina.profile.mcid is None
    table = demo_accounts_markdown()
    assert "alex.learner@outlook.com" in table and "987654321" in table


def test_create_account_and_transcript_cli(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=[
        "create-account", "--issuer", "learn", "--email", "Wendy.Work@Fabrikam.com",
        "--password", "Passw0rd!", "--name", "Wendy Work", "--work", "--generate-mcid",
        "--no-msa"])
    assert result.exit_code == 0, result.output
    assert "Passw0rd!" not in result.output
    result = runner.invoke(args=[
        "create-account", "--issuer", "learn", "--email", "ivan@outlook.com",
        "--password", "Passw0rd!", "--name", "Ivan", "--mcid", "12345678"])
    assert result.exit_code == 0, result.output
    dup = runner.invoke(args=[
        "create-account", "--issuer", "learn", "--email", "ivan@outlook.com",
        "--password", "Passw0rd!", "--name", "Ivan"])
    assert dup.exit_code != 0
    bad = runner.invoke(args=[
        "create-account", "--issuer", "partner-university", "--email", "w@x.com",
        "--password", "Passw0rd!", "--name", "W", "--work"])
    assert bad.exit_code != 0
    result = runner.invoke(args=[
        "add-transcript-item", "--issuer", "learn", "--email", "wendy.work@fabrikam.com",
        "--kind", "certification", "--code", "AZ-104", "--title", "Azure Administrator",
        "--level", "intermediate", "--completed", "2026-11-01"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        wendy = db.session.scalar(db.select(Account).filter_by(email="wendy.work@fabrikam.com"))
        assert wendy.kind == "work"
        assert wendy.profile.mcid.isdigit() and len(wendy.profile.mcid) == 9
        item = wendy.profile.transcript_items[0]
        assert item.to_dict()["completed_at"] == "2026-11-01"
        assert item.level == "intermediate" and item.code == "AZ-104"
        ivan = db.session.scalar(db.select(Account).filter_by(email="ivan@outlook.com"))
        assert ivan.profile.mcid == "12345678"


def test_pages_render_for_both_issuers_and_locales(app):
    client = app.test_client()
    learn = client.get("/learn/signin?lang=fr")
    assert learn.status_code == 200 and 'lang="fr"' in learn.text
    assert "issuer-learn" in learn.text
    # A new visitor (no language remembered in the provider session) gets Accept-Language.
    pu = app.test_client().get("/partner-university/signin",
                               headers={"Accept-Language": "zh-TW,zh;q=0.9"})
    assert "issuer-partner-university" in pu.text and 'lang="zh-Hant-TW"' in pu.text
    assert "註冊" in pu.text  # Sign up
    client = app.test_client()
    assert client.get("/learn/signup").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/learn/").status_code == 200
    assert client.get("/learn/logout").text.count("You are signed out") >= 1


# -------- Discovery and JWKS are cacheable, and a key rotation shows in the JWKS at once. --------
# Discovery and JWKS are cacheable, and a key rotation shows in the JWKS at once.


def test_discovery_and_jwks_carry_an_expiry(tmp_path):
    client = create_app(make_config(tmp_path / "idp.sqlite")).test_client()
    discovery = client.get("/learn/.well-known/openid-configuration")
    assert discovery.status_code == 200
    assert discovery.json["jwks_uri"].endswith("/learn/jwks.json")
    assert discovery.cache_control.public and discovery.cache_control.max_age == 3600
    jwks = client.get("/learn/jwks.json")
    assert jwks.status_code == 200 and len(jwks.json["keys"]) == 1
    assert jwks.cache_control.public and jwks.cache_control.max_age == 300
    # Authorization responses are never cached.
    assert client.get("/learn/authorize").headers["Cache-Control"] == "no-store"


def test_rotation_and_retirement_show_in_the_next_jwks(tmp_path):
    app = create_app(make_config(tmp_path / "idp.sqlite"))
    client = app.test_client()
    [first] = client.get("/learn/jwks.json").json["keys"]
    with app.app_context():
        new_kid = rotate_signing_key("learn").kid
    kids = [k["kid"] for k in client.get("/learn/jwks.json").json["keys"]]
    assert kids == [first["kid"], new_kid]
    with app.app_context():
        newest_kid = rotate_signing_key("learn", retire_previous=True).kid
    assert [k["kid"] for k in client.get("/learn/jwks.json").json["keys"]] == [newest_kid]
    # The other issuer's keys are its own.
    assert newest_kid not in {k["kid"] for k in client.get("/partner-university/jwks.json").json["keys"]}


def test_add_client_cli_registers_a_public_client(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=[
        "add-client", "--issuer", "learn", "--client-id", "contoso-spa", "--public",
        "--redirect-uri", "http://localhost:3000/cb", "--name", "Contoso SPA",
        "--require-nonce"])
    assert result.exit_code == 0, result.output
    assert "public" in result.output
    with app.app_context():
        client = db.session.scalar(db.select(OAuth2Client).filter_by(client_id="contoso-spa"))
        assert client.is_public and client.client_secret == "" and client.require_nonce
        assert "client_credentials" not in client.grant_types
        assert "refresh_token" in client.grant_types
        assert not client.check_endpoint_auth_method("client_secret_basic", "token")
    # A secret with --public, or no secret without it: a usage error, nothing registered.
    for args in (["--public", "--client-secret", "s3cret-value-123"], []):
        refused = runner.invoke(args=[
            "add-client", "--issuer", "learn", "--client-id", "contoso-other",
            "--redirect-uri", "http://localhost:3000/cb", "--name", "Other", *args])
        assert refused.exit_code == 2, refused.output
    with app.app_context():
        assert db.session.scalar(db.select(OAuth2Client).filter_by(
            client_id="contoso-other")) is None
