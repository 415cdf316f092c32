"""Pool exhaustion and runaway statements, caused for real with row locks the test holds.

These run the real app in-process on the session's database (through PgBouncer in the
PgBouncer pass), with requests in threads so that several are in flight at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from webtest import TestApp

from service.server import migrate
from service.server.bootstrap import Runtime, build
from tests.conftest import VIA_PGBOUNCER, make_config, set_database_statement_timeout

pytestmark = [pytest.mark.faults]


@pytest.fixture
def runtime_with(database_url: str) -> Iterator:
    """Build runtimes with given settings (on the session database unless told); close them."""
    built: list[Runtime] = []

    def make(url: str = database_url, **settings: str) -> TestApp:
        rt = build(make_config(url, **settings))
        rt.pool.open(wait=True, timeout=10)
        built.append(rt)
        return TestApp(rt.app, extra_environ={"HTTP_HOST": "tasks.test"})

    yield make
    for rt in built:
        rt.stop()


class InFlight(threading.Thread):
    """Run one request in a thread, keeping its response and how long it took."""

    def __init__(self, send) -> None:
        super().__init__(daemon=True)
        self._send = send
        self.response = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        self.response = self._send()
        self.seconds = time.monotonic() - started


def row_locked(db: psycopg.Connection, user_id: str, task_id: str):
    """Lock the task's row in a transaction of the test's own connection."""
    tx = db.transaction()
    tx.__enter__()
    db.execute("SELECT 1 FROM tasks WHERE user_id = %s AND id = %s FOR UPDATE", (user_id, task_id))
    return tx


def waiting_on_lock(db_url: str) -> int:
    """Count the backends waiting on a lock for an UPDATE of tasks."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query ILIKE 'UPDATE tasks%%' AND datname = current_database()"
        ).fetchone()
        return row[0]


def test_exhausted_pool_answers_503_fast_instead_of_hanging(runtime_with, db, user_id):
    app = runtime_with(
        POOL_MAX_SIZE="1", POOL_MIN_SIZE="1", POOL_TIMEOUT="0.5", PG_STATEMENT_TIMEOUT_MS="3000"
    )
    base = f"/api/{user_id}/tasks"
    task = app.post_json(base, {"title": "held"}).json
    tx = row_locked(db, user_id, task["id"])
    try:
        # The pool's only connection is now stuck behind the lock.
        holder = InFlight(
            lambda: app.patch_json(f"{base}/{task['id']}", {"title": "x"}, expect_errors=True)
        )
        holder.start()
        time.sleep(0.3)
        others = [InFlight(lambda: app.get(base, expect_errors=True)) for _ in range(3)]
        for request in others:
            request.start()
        for request in others:
            request.join(10)
            assert request.response.status_int == 503
            assert request.response.headers["Retry-After"].isdigit()
            assert request.response.content_type == "application/problem+json"
            assert request.seconds < 2  # POOL_TIMEOUT (0.5 s) and a margin, not the lock's time
        assert holder.is_alive()  # still waiting on the lock: the 503s did not wait for it
    finally:
        tx.__exit__(None, None, None)
    holder.join(10)
    assert holder.response.status_int == 200
    assert app.get(base).status_int == 200


@pytest.fixture
def short_timeout_database(scratch) -> str:
    """Return a migrated database whose statements the server cuts after 800 ms.

    Directly, the service sets statement_timeout per connection (PG_STATEMENT_TIMEOUT_MS);
    behind PgBouncer that SET cannot follow a client, so the database carries the setting,
    as docs/operations.md tells operators to do.
    """
    url = scratch.create()
    migrate.apply(url)
    if VIA_PGBOUNCER:
        set_database_statement_timeout(url, 800)
    return url


def test_runaway_statement_is_cut_by_statement_timeout_and_its_write_never_lands(
    runtime_with, short_timeout_database, user_id
):
    database_url = short_timeout_database
    app = runtime_with(
        database_url,
        POOL_MAX_SIZE="1",
        POOL_MIN_SIZE="1",
        PG_STATEMENT_TIMEOUT_MS="800",
        DB_DEADLINE_MS="4000",
    )
    base = f"/api/{user_id}/tasks"
    task = app.post_json(base, {"title": "original"}).json
    db = psycopg.connect(database_url, autocommit=True)
    tx = row_locked(db, user_id, task["id"])
    try:
        started = time.monotonic()
        resp = app.patch_json(f"{base}/{task['id']}", {"title": "late"}, status=503)
        elapsed = time.monotonic() - started
        assert resp.headers["Retry-After"].isdigit()
        # Cut by the server's statement_timeout (0.8 s), well before the client deadline (4 s).
        assert 0.7 < elapsed < 3
        # The server cancelled the statement: nothing waits on the lock any more...
        assert waiting_on_lock(database_url) == 0
    finally:
        tx.__exit__(None, None, None)
        db.close()
    # ...so releasing the lock applies nothing: a 503 write never lands later.
    assert app.get(f"{base}/{task['id']}").json["title"] == "original"
    # And the pool's only connection is usable again.
    assert app.patch_json(f"{base}/{task['id']}", {"title": "now"}).json["title"] == "now"
