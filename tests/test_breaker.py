"""The database circuit breaker: its state machine (on a test clock), then in the real app."""

from __future__ import annotations

import re
import time

import psycopg
import pytest
from psycopg_pool import PoolClosed, PoolTimeout
from webtest import TestApp

from service.data.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerOpen,
    CircuitBreaker,
    unavailability,
)
from service.data.deadline import ARRIVED, DeadlineExceeded, DeadlinePassed, within
from service.server.bootstrap import build
from tests.conftest import make_config


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(open_seconds=1.5, probe_seconds=0.5, name="test", clock=clock)


CUT = DeadlineExceeded("the database did not answer in time; connection cut")
LOST = psycopg.OperationalError("server closed the connection unexpectedly")


def test_unanswered_lost_and_answered_failures_are_told_apart():
    assert unavailability(CUT) == "unanswered"
    assert unavailability(PoolTimeout("couldn't get a connection after 2.00 sec")) == "unanswered"
    assert unavailability(LOST) == "lost"
    assert unavailability(psycopg.InterfaceError("the connection is closed")) == "lost"
    assert unavailability(psycopg.errors.AdminShutdown("terminating connection")) == "lost"
    assert unavailability(psycopg.errors.CannotConnectNow("the database is starting")) == "lost"
    # The server answered, too late: a statement_timeout, a lock wait given up.
    assert unavailability(psycopg.errors.QueryCanceled("statement timeout")) == "slow"
    assert unavailability(psycopg.errors.LockNotAvailable("could not obtain lock")) == "slow"
    # The server answered; or the use never reached it.
    assert unavailability(psycopg.errors.UniqueViolation("duplicate key")) is None
    assert unavailability(DeadlinePassed("shed")) is None
    assert unavailability(BreakerOpen("open")) is None
    assert unavailability(PoolClosed("the pool is closed")) is None
    assert unavailability(ValueError("not a database error")) is None


def test_closed_breaker_admits_every_use_without_probing(breaker):
    assert breaker.clear and breaker.state == CLOSED
    assert [breaker.admit() for _ in range(3)] == [False] * 3


def test_a_use_that_ran_out_of_time_opens_it_and_uses_fail_fast_until_the_window_ends(
    breaker, clock
):
    breaker.failed(CUT)
    assert breaker.state == OPEN and not breaker.clear
    for _ in range(3):
        with pytest.raises(BreakerOpen):
            breaker.admit()
    clock.now += 1.49
    with pytest.raises(BreakerOpen):
        breaker.admit()
    clock.now += 0.01
    assert breaker.admit() is True  # the probe
    assert breaker.state == HALF_OPEN


def test_only_one_probe_at_a_time_and_its_success_closes_the_breaker(breaker, clock):
    breaker.failed(PoolTimeout("couldn't get a connection"))
    clock.now += 2
    assert breaker.admit() is True
    with pytest.raises(BreakerOpen):  # a second use while the probe runs
        breaker.admit()
    breaker.succeeded()
    assert breaker.state == CLOSED and breaker.clear
    assert breaker.admit() is False


def test_a_failed_probe_opens_it_for_another_full_window(breaker, clock):
    breaker.failed(CUT)
    clock.now += 2
    assert breaker.admit() is True
    clock.now += 0.5
    breaker.probe_failed(CUT)
    assert breaker.state == OPEN
    clock.now += 1.49
    with pytest.raises(BreakerOpen):
        breaker.admit()
    clock.now += 0.01
    assert breaker.admit() is True


def test_failures_the_server_answered_never_open_it(breaker):
    for _ in range(3):
        for error in (
            psycopg.errors.UniqueViolation("duplicate key value"),
            psycopg.errors.SerializationFailure("could not serialize access"),
            DeadlinePassed("the request's deadline passed before its turn"),
        ):
            breaker.failed(error)
    assert breaker.state == CLOSED and breaker.clear


TIMED_OUT = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")


def test_one_statement_timeout_is_forgiven_a_second_within_the_window_opens_it(breaker, clock):
    breaker.failed(TIMED_OUT)
    assert breaker.state == CLOSED
    breaker.succeeded()  # successes in between do not clear the window
    clock.now += 9.9
    breaker.failed(psycopg.errors.LockNotAvailable("could not obtain lock"))
    assert breaker.state == OPEN
    with pytest.raises(BreakerOpen):
        breaker.admit()


def test_statement_timeouts_further_apart_than_the_window_never_open_it(breaker, clock):
    for _ in range(5):
        breaker.failed(TIMED_OUT)
        assert breaker.state == CLOSED
        clock.now += 10.1


def test_while_the_database_stays_slow_the_first_timeout_after_a_probe_opens_it_again(
    breaker, clock
):
    breaker.failed(TIMED_OUT)
    breaker.failed(TIMED_OUT)
    assert breaker.state == OPEN
    clock.now += 1.5
    assert breaker.admit() is True
    breaker.succeeded()  # the probe (SELECT 1) gets its answer: a table lock does not stop it
    assert breaker.state == CLOSED
    clock.now += 2
    breaker.failed(TIMED_OUT)  # one more is enough
    assert breaker.state == OPEN


def test_a_cut_with_a_truncated_budget_counts_as_slow_a_cut_with_a_full_one_opens_it(breaker):
    breaker.failed(CUT, truncated=True)  # the request had queued: the database may be fine
    assert breaker.state == CLOSED
    breaker.failed(CUT)
    assert breaker.state == OPEN


def test_one_lost_connection_is_forgiven_two_in_a_row_open_it(breaker):
    breaker.failed(LOST)
    assert breaker.state == CLOSED and not breaker.clear
    assert breaker.admit() is False  # still lets uses through
    breaker.succeeded()  # a use in between ended well: the count starts again
    assert breaker.clear
    breaker.failed(LOST)
    assert breaker.state == CLOSED
    breaker.failed(LOST)
    assert breaker.state == OPEN


def test_a_use_begun_before_it_opened_that_ends_well_closes_it(breaker):
    breaker.failed(PoolTimeout("couldn't get a connection"))
    assert breaker.state == OPEN
    breaker.succeeded()
    assert breaker.state == CLOSED and breaker.admit() is False


def test_a_zero_window_disables_it(clock):
    breaker = CircuitBreaker(open_seconds=0, clock=clock)
    for _ in range(5):
        breaker.failed(CUT)
        breaker.failed(LOST)
        breaker.failed(TIMED_OUT)
    assert breaker.state == CLOSED and breaker.clear


# The real app and pool on the session's database: a statement outliving the deadline is
# a database that stopped answering, as far as the service can tell.


# Long enough for a loaded machine to make every request of a test inside it.
WINDOW = 2.0


def rejections(app: TestApp) -> float:
    """Return the requests refused at once by breakers so far (all of this process's)."""
    found = re.search(
        r'^tasks_db_breaker_rejected_total\{pool="tasks"\} (\S+)$', app.get("/metrics").text, re.M
    )
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def tripped_app(database_url):
    """Return an app whose breaker has just opened (a statement cut at its 300 ms deadline)."""
    rt = build(
        make_config(
            database_url,
            DB_DEADLINE_MS="300",
            PG_STATEMENT_TIMEOUT_MS="0",
            POOL_MAX_SIZE="1",
            POOL_MIN_SIZE="1",
            DB_BREAKER_OPEN_MS=str(int(WINDOW * 1000)),
        )
    )
    rt.pool.open(wait=True, timeout=10)
    try:
        with pytest.raises(DeadlineExceeded), rt.pool.connection() as conn:
            conn.execute("SELECT pg_sleep(10)")
        assert rt.pool.breaker.state == OPEN
        yield rt, TestApp(rt.app)
    finally:
        rt.stop()


def test_while_open_requests_get_an_immediate_503_problem_with_retry_after(tripped_app):
    rt, app = tripped_app
    before = rejections(app)
    resp = app.get("/api/breaker/tasks", headers={"X-Request-ID": "breaker-1"}, status=503)
    assert resp.content_type == "application/problem+json"
    assert resp.headers["Retry-After"].isdigit()
    assert resp.json["request_id"] == "breaker-1"
    app.post_json("/api/breaker/tasks", {"title": "x"}, status=503)
    for path in ("/health", "/readyz"):
        assert app.get(path, status=503).json["status"] == "unavailable"
    assert app.get("/livez", status=200).json == {"status": "ok"}
    # All four refused by the breaker, without trying the database; none probed.
    assert rejections(app) - before == 4
    assert rt.pool.breaker.state == OPEN


def test_after_the_window_a_probe_finds_the_database_and_closes_the_breaker(tripped_app):
    rt, app = tripped_app
    time.sleep(WINDOW + 0.1)
    created = app.post_json("/api/breaker/tasks", {"title": "after"}, status=201).json
    assert rt.pool.breaker.state == CLOSED
    assert app.get(f"/api/breaker/tasks/{created['id']}").json["title"] == "after"
    assert app.get("/readyz", status=200).json["status"] == "ok"


@pytest.fixture
def slow_app(database_url):
    """Return an app with a 1 s request deadline and a breaker that would show any opening."""
    rt = build(make_config(database_url, DB_DEADLINE_MS="1000", POOL_MAX_SIZE="1"))
    rt.pool.open(wait=True, timeout=10)
    try:
        yield rt, TestApp(rt.app)
    finally:
        rt.stop()


def test_a_request_that_arrived_past_its_deadline_is_shed_at_once_without_the_database(
    slow_app,
):
    rt, app = slow_app
    app.post_json("/api/shed/tasks", {"title": "x"}, status=201)
    arrived = time.monotonic() - 1.5  # the worker read it 1.5 s ago; the deadline is 1 s
    started = time.monotonic()
    resp = app.get("/api/shed/tasks", extra_environ={ARRIVED: arrived}, status=503)
    assert time.monotonic() - started < 0.5
    assert resp.headers["Retry-After"].isdigit()
    assert resp.content_type == "application/problem+json"
    app.post_json(
        "/api/shed/tasks", {"title": "late"}, extra_environ={ARRIVED: arrived}, status=503
    )
    # Not a sign of a database in trouble: the breaker stays closed, others are served.
    assert rt.pool.breaker.state == CLOSED and rt.pool.breaker.clear
    titles = [t["title"] for t in app.get("/api/shed/tasks").json]
    assert titles == ["x"]
    # A request read just now gets its whole budget.
    app.get("/api/shed/tasks", extra_environ={ARRIVED: time.monotonic()}, status=200)
    assert app.get("/livez", extra_environ={ARRIVED: arrived}, status=200)


def test_a_request_that_queued_gets_only_what_is_left_of_its_budget(slow_app):
    rt, _ = slow_app
    # Arrived 0.7 s ago with a 1 s deadline: the database use is cut 0.3 s from now.
    arrived = time.monotonic() - 0.7
    started = time.monotonic()
    with (
        pytest.raises(DeadlineExceeded),
        within(arrived + 1.0 - time.monotonic()),
        rt.pool.connection() as conn,
    ):
        conn.execute("SELECT pg_sleep(3)")
    assert 0.2 < time.monotonic() - started < 0.9
    # A cut that short is slow, not unanswered: one does not open the breaker.
    assert rt.pool.breaker.state == CLOSED
