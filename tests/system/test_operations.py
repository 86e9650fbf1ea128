"""Operations: health and readiness, request ids across both servers, JSON logs, error pages."""
from __future__ import annotations

import io
import json
from contextlib import contextmanager

import pytest

from tests.fixtures.flows import link_account, sign_in


@contextmanager
def captured_log(app):
    """The lines the app's JSON log handler writes, while the block runs."""
    handler = next(h for h in app.logger.handlers if getattr(h, "_learnlink_json", False))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        handler.setStream(previous)
        raw = buffer.getvalue().splitlines()
        lines.extend(json.loads(line) for line in raw)  # every line is one JSON object


def _provider_app(tmp_path, **extra):
    from idp_mock import create_app
    from tests.fixtures.databases import provider_database_url

    return create_app({"TESTING": True, "CREATE_TABLES_WITHOUT_MIGRATIONS": True,
                       "SQLALCHEMY_DATABASE_URI": provider_database_url(tmp_path / "ops-idp.sqlite"),
                       "IDP_PASSWORD_HASH": "pbkdf2:sha256:1000", **extra})


def test_webapp_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["database"] == "ok"


def test_provider_health_and_readiness(tmp_path):
    client = _provider_app(tmp_path).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["database"] == "ok"


def test_readiness_is_503_when_the_database_is_unreachable(idp):
    from tests.fixtures.servers import webapp_config
    from webapp import create_app

    missing = "postgresql+psycopg://nobody@127.0.0.1:9/nothing-listens-here"
    webapp = create_app({**webapp_config(idp.url, missing), "CREATE_TABLES_WITHOUT_MIGRATIONS": False})
    assert webapp.test_client().get("/healthz").status_code == 200
    response = webapp.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["status"] == "unavailable"

    from idp_mock import create_app as create_provider_app

    providers = create_provider_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": missing})  # starts
    assert providers.test_client().get("/healthz").status_code == 200
    assert providers.test_client().get("/readyz").status_code == 503


def test_request_id_is_returned_accepted_or_generated(client):
    given = client.get("/login", headers={"X-Request-ID": "qa-run-42.step-1"})
    assert given.headers["X-Request-ID"] == "qa-run-42.step-1"
    generated = client.get("/login")
    assert len(generated.headers["X-Request-ID"]) == 32
    # Something that could break a log line or a header is replaced, not echoed.
    hostile = client.get("/login", headers={"X-Request-ID": "x\" injected {json"})
    assert hostile.headers["X-Request-ID"] != "x\" injected {json"


def test_one_flow_is_followed_across_both_servers_by_request_id(app, browser, idp):
    """The webapp's back-channel calls carry the request id of the callback that made them."""
    sign_in(browser, "alex@contoso.com")
    with captured_log(app) as webapp_lines, captured_log(idp.app) as provider_lines:
        page = link_account(browser, "learn", "alex.learner@outlook.com")
    assert "/profile" in page.url
    callback = next(line for line in webapp_lines
                    if line.get("path") == "/link/learn/callback")
    assert callback["status"] == 302 and callback["service"] == "webapp"
    same_flow = [line for line in provider_lines if line.get("request_id") == callback["request_id"]]
    assert {line["path"] for line in same_flow} >= {"/learn/token", "/learn/userinfo"}
    assert all(line["service"] == "idp" for line in same_flow)
    # Query strings (codes, states) never reach the log.
    assert not any("code=" in json.dumps(line) for line in webapp_lines + provider_lines)


def test_unhandled_error_shows_a_page_without_traceback_and_logs_it(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/explode-for-test")
    def explode():
        raise RuntimeError("internal detail 1234")

    with captured_log(app) as lines:
        response = app.test_client().get("/explode-for-test", headers={"X-Request-ID": "boom-1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Traceback" not in body and "internal detail 1234" not in body
    assert "Something went wrong" in body
    logged = [line for line in lines if line.get("level") == "error"]
    assert logged and logged[0]["request_id"] == "boom-1"
    assert "internal detail 1234" in logged[0]["exception"]


def test_provider_error_pages_have_no_traceback(tmp_path):
    providers = _provider_app(tmp_path)
    providers.config["PROPAGATE_EXCEPTIONS"] = False

    @providers.get("/explode-for-test")
    def explode():
        raise RuntimeError("provider detail 5678")

    client = providers.test_client()
    with captured_log(providers) as lines:
        response = client.get("/explode-for-test")
    body = response.get_data(as_text=True)
    assert response.status_code == 500 and "Traceback" not in body
    assert "provider detail 5678" not in body and "Something went wrong" in body
    assert any("provider detail 5678" in line.get("exception", "") for line in lines)
    missing = client.get("/learn/no-such-page")
    assert missing.status_code == 404 and "Page not found" in missing.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/login", "/no-such-page"])
def test_webapp_pages_have_titles_and_favicon(client, path):
    html = client.get(path).get_data(as_text=True)
    assert 'rel="icon"' in html
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "LearnLink" in title and len(title) > len("· LearnLink")


def test_provider_pages_have_titles_and_favicon(tmp_path):
    client = _provider_app(tmp_path).test_client()
    for path in ("/", "/learn/signin", "/partner-university/signup", "/learn/no-such-page"):
        html = client.get(path).get_data(as_text=True)
        assert 'rel="icon"' in html, path
        title = html.split("<title>", 1)[1].split("</title>", 1)[0].strip()
        assert title, path
    assert client.get("/favicon.ico").headers["Location"].endswith("/static/favicon.svg")
