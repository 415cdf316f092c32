"""Client-side deadlines: a database that stops answering cannot hold a request past them."""

from __future__ import annotations

import threading
import time

import pytest
from psycopg_pool import PoolTimeout

from service.data import deadline
from service.server.bootstrap import build
from tests.conftest import make_config


@pytest.fixture
def runtime_factory(database_url):
    """Build runtimes on the session database with given settings; close them afterwards."""
    built = []

    def make(**settings: str):
        rt = build(make_config(database_url, **settings))
        rt.pool.open(wait=True, timeout=10)
        built.append(rt)
        return rt

    yield make
    for rt in built:
        rt.stop()


def backend_pid(pool) -> int:
    with pool.connection() as conn:
        return conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]


def test_statement_outliving_the_deadline_is_cut_and_the_pool_recovers(runtime_factory):
    # No server-side timeout: only the client-side deadline can end this statement. The
    # circuit breaker is off: this is about the pool (test_breaker.py covers the breaker).
    rt = runtime_factory(
        DB_DEADLINE_MS="500",
        PG_STATEMENT_TIMEOUT_MS="0",
        POOL_MAX_SIZE="1",
        DB_BREAKER_OPEN_MS="0",
    )
    started = time.monotonic()
    with pytest.raises(deadline.DeadlineExceeded), rt.pool.connection() as conn:
        conn.execute("SELECT pg_sleep(30)")
    assert 0.4 < time.monotonic() - started < 3
    # The cut connection was discarded; the pool's only slot holds a fresh one that works.
    with rt.pool.connection() as conn:
        assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}


def test_a_use_that_ends_in_time_keeps_its_connection(runtime_factory):
    rt = runtime_factory(DB_DEADLINE_MS="2000", POOL_MAX_SIZE="1")
    first = backend_pid(rt.pool)
    for _ in range(3):
        with rt.pool.connection() as conn:
            conn.execute("SELECT pg_sleep(0.01)")
    assert backend_pid(rt.pool) == first


def test_waiting_for_a_connection_ends_at_the_deadline(runtime_factory):
    rt = runtime_factory(DB_DEADLINE_MS="10000", POOL_TIMEOUT="30", POOL_MAX_SIZE="1")
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with rt.pool.connection():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        with pytest.raises(PoolTimeout), deadline.within(0.3), rt.pool.connection():
            pass
        assert time.monotonic() - started < 2
    finally:
        release.set()
        holder.join()


def test_within_only_ever_narrows_the_deadline():
    with deadline.within(1.0) as outer:
        with deadline.within(60.0) as inner:
            assert inner == outer == deadline.current()
        with deadline.within(0.1) as tighter:
            assert tighter < outer
    assert deadline.current() is None


def test_request_deadline_applies_to_each_database_use(runtime_factory):
    rt = runtime_factory(DB_DEADLINE_MS="600", PG_STATEMENT_TIMEOUT_MS="0")
    with deadline.within(0.6):
        with rt.pool.connection() as conn:
            conn.execute("SELECT pg_sleep(0.4)")
        # The second use has what is left of the budget, not a fresh 600 ms.
        started = time.monotonic()
        with pytest.raises(deadline.DeadlineExceeded), rt.pool.connection() as conn:
            conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 2


def test_the_pools_check_of_a_connection_is_cut_at_the_deadline_too(database_url):
    from service.data.pool import GuardedPool, libpq_url

    def slow_check(conn) -> None:
        # A check that does not return (as on a frozen server), here for real on the server.
        conn.execute("SELECT pg_sleep(10)")

    pool = GuardedPool(
        libpq_url(database_url),
        deadline_seconds=0.5,
        check_connection=slow_check,
        min_size=1,
        max_size=1,
        timeout=5,
        open=False,
        kwargs={"autocommit": True},
    )
    pool.open(wait=True, timeout=10)
    try:
        started = time.monotonic()
        with pytest.raises(PoolTimeout), pool.connection():
            pass
        assert time.monotonic() - started < 3  # the deadline (0.5 s), not the check's 10 s
    finally:
        pool.close(timeout=1)
