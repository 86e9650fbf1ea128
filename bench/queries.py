"""Figure 4: SQL statements per request, counted with SQLAlchemy's before_cursor_execute event,
for the pages whose cost could grow with the organization: My Learn profile, the admin user list,
the Skills report page and the analytics report, at 100 and at 100,000 work users; and the time
of every report page at 100,000 users (in-process, median of alternating rounds)."""
from __future__ import annotations

import re

from sqlalchemy import event

from bench import datagen

# Pages are found by endpoint name, so the figure follows the routes as they are named on main.
PAGES = {
    "My Learn profile": [r"^profile\.profile$"],
    "Admin user list": [r"^admin\.(users|user_list|list_users|index)$", r"admin.*users?$"],
    "Skills report page": [r"^reports?\.skills(_report)?$", r"skills(?!.*(csv|download|export))"],
    "Analytics report": [r"^reports?\.(learn_)?analytics(_report)?$", r"analytics(?!.*(csv|download|export))"],
}
# Report pages timed at 100k users (target < 50 ms each): path -> label.
TIMED = {"/reports/learn-analytics": "Learn analytics", "/reports/skills": "Skills report page 1",
         "/reports/skills?page=1000": "Skills report page 1000", "/reports/skilling-points": "Skilling points",
         "/admin/users": "Work users list"}
ROUNDS = 7


def find_pages(app) -> dict[str, str | None]:
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and not r.arguments]
    found = {}
    for label, patterns in PAGES.items():
        found[label] = None
        for pattern in patterns:
            match = next((r.rule for r in sorted(rules, key=lambda r: r.rule)
                          if re.search(pattern, r.endpoint)), None)
            if match:
                found[label] = match
                break
    return found


def count_queries(users: int) -> dict[str, tuple[str | None, int | None, int | None]]:
    """label -> (url, status, statements) for one database size."""
    from tests.fixtures.browser import Browser
    from tests.fixtures.flows import sign_in
    from webapp import create_app
    from webapp.extensions import db

    path = datagen.database_for(users)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench",
                      "PASSWORD_HASH_METHOD": datagen.QA_HASH, "TESTING": True})
    browser = Browser(app.test_client())
    sign_in(browser, datagen.ADMIN_EMAIL, datagen.PASSWORD)
    statements = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    results = {}
    try:
        for label, url in find_pages(app).items():
            if url is None:
                results[label] = (None, None, None)
                continue
            browser.client.get(url)  # warm: first-request work is not per-page cost
            statements.clear()
            response = browser.client.get(url)
            results[label] = (url, response.status_code, len(statements))
    finally:
        event.remove(engine, "before_cursor_execute", count)
        with app.app_context():
            db.engine.dispose()
    return results


def time_pages(users: int, rounds: int) -> dict[str, tuple[int, float]]:
    """path -> (status, median ms) of each report page, the pages taken in turn in every round so
    that outside load hits them alike."""
    import logging
    import statistics
    import time

    from tests.fixtures.browser import Browser
    from tests.fixtures.flows import sign_in
    from webapp import create_app
    from webapp.extensions import db

    path = datagen.database_for(users)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench",
                      "PASSWORD_HASH_METHOD": datagen.QA_HASH, "TESTING": True})
    browser = Browser(app.test_client())
    sign_in(browser, datagen.ADMIN_EMAIL, datagen.PASSWORD)
    logging.getLogger("webapp").setLevel(logging.WARNING)  # the request log is not measured
    times: dict[str, list[float]] = {url: [] for url in TIMED}
    status = {}
    for url in TIMED:
        status[url] = browser.client.get(url).status_code  # warm
    for _ in range(rounds):
        for url in TIMED:
            started = time.perf_counter()
            browser.client.get(url)
            times[url].append((time.perf_counter() - started) * 1000)
    with app.app_context():
        db.engine.dispose()
    return {url: (status[url], statistics.median(values)) for url, values in times.items()}


def run(quick: bool) -> list:
    from bench.run import Row

    small, large = count_queries(100), count_queries(100_000)
    rows = []
    for label in PAGES:
        url, status_s, n_small = small[label]
        _url, status_l, n_large = large[label]
        if url is None:
            rows.append(Row(f"Queries per page: {label}", "page not on main yet", "same small constant", None))
            continue
        if status_s != 200 or status_l != 200:
            rows.append(Row(f"Queries per page: {label} ({url})", f"HTTP {status_s} / {status_l}",
                            "same small constant", False))
            continue
        ok = n_small == n_large and n_large <= 15
        rows.append(Row(f"Queries per page: {label} ({url})", f"{n_small} at 100 users, {n_large} at 100k",
                        "same small constant", ok))
    for url, (status, ms) in time_pages(100_000, 3 if quick else ROUNDS).items():
        rows.append(Row(f"Report page at 100k users: {TIMED[url]} ({url})",
                        f"{ms:.0f} ms (median, in-process)" if status == 200 else f"HTTP {status}",
                        "< 50 ms", status == 200 and ms < 50))
    return rows
