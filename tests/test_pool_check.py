"""The pool's connection check: skipped for a connection handed out moments ago."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from webtest import TestApp

from service.data.pool import connection_check
from service.server.bootstrap import build
from tests.conftest import VIA_PGBOUNCER, make_config


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record every ping the check sends instead of sending it."""
    sent: list[object] = []
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(sent.append))
    return sent


def test_a_connection_is_pinged_the_first_time_and_after_sitting_idle(db, pings):
    clock = FakeClock()
    check = connection_check(1000, clock=clock)
    check(db)
    assert pings == [db]
    clock.now += 0.5
    check(db)
    assert pings == [db]  # handed out 0.5 s ago: no round trip
    clock.now += 1.5
    check(db)
    assert pings == [db, db]  # idle for 1.5 s: checked


def test_each_connection_has_its_own_window(database_url, pings):
    clock = FakeClock()
    check = connection_check(1000, clock=clock)
    with psycopg.connect(database_url) as one, psycopg.connect(database_url) as two:
        check(one)
        check(two)
        check(one)
        assert pings == [one, two]


def test_zero_checks_every_time(db, pings):
    check = connection_check(0)
    check(db)
    check(db)
    assert pings == [db, db]


# Through PgBouncer the pool's connections end at the proxy: a server backend killed behind it
# breaks nothing the pool holds (and backend_pid names no real backend there).
direct_connections_only = pytest.mark.skipif(
    VIA_PGBOUNCER, reason="through PgBouncer, killing a server backend breaks no pooled connection"
)


def _kill_pool_connections(rt, db: psycopg.Connection) -> None:
    """Terminate, server-side, the one connection of a pool of size 1 (only that one)."""
    with rt.pool.connection() as conn:
        pid = conn.info.backend_pid
    # With a timeout, pg_terminate_backend waits until the backend is gone (PostgreSQL 14+).
    assert db.execute("SELECT pg_terminate_backend(%s::integer, 5000)", (pid,)).fetchone()[
        "pg_terminate_backend"
    ]


@direct_connections_only
def test_an_idle_connection_that_broke_is_replaced_before_a_request_sees_it(database_url, db):
    rt = build(
        make_config(database_url, POOL_MIN_SIZE="1", POOL_MAX_SIZE="1", POOL_CHECK_IDLE_MS="1")
    )
    rt.pool.open(wait=True, timeout=10)
    try:
        app = TestApp(rt.app)
        app.get("/api/pool-check/tasks", status=200)
        _kill_pool_connections(rt, db)
        time.sleep(0.05)  # longer than the 1 ms window: the next hand-out checks
        app.get("/api/pool-check/tasks", status=200)
    finally:
        rt.stop()


@direct_connections_only
def test_a_connection_that_broke_inside_the_window_costs_one_request_at_most(database_url, db):
    rt = build(
        make_config(database_url, POOL_MIN_SIZE="1", POOL_MAX_SIZE="1", POOL_CHECK_IDLE_MS="600000")
    )
    rt.pool.open(wait=True, timeout=10)
    try:
        app = TestApp(rt.app)
        app.get("/api/pool-check/tasks", status=200)
        _kill_pool_connections(rt, db)
        # Not checked (handed out moments ago): the request fails cleanly, never a 500...
        first = app.get("/api/pool-check/tasks", status="*")
        assert first.status_int in (200, 503)
        # ...and the pool has dropped the broken connection for a new one.
        app.get("/api/pool-check/tasks", status=200)
    finally:
        rt.stop()
