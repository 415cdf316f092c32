"""The 5 s promise while the database is up but slow: a table lock, a row lock, costly searches.

The real service under gunicorn with its shipped worker (keep-alive, one thread per worker,
so requests queue behind a slow one) and its default timeouts, on a database of its own on
the test server. Each test times another user's requests while the fault lasts: every
request must be answered (a success or a 503 with Retry-After) within 5 s of being sent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest

from service.server import migrate
from tests.conftest import (
    VIA_PGBOUNCER,
    ScratchDatabases,
    set_database_statement_timeout,
    via_pgbouncer,
)
from tests.faultkit import Gunicorn, Reply, call

pytestmark = [pytest.mark.faults, pytest.mark.slow]

CONTRACT_SECONDS = 5.0
# Room for a loaded test machine between the client's clock and the server's.
MARGIN = 0.5


@pytest.fixture(scope="module")
def database(scratch: ScratchDatabases) -> str:
    """Return the URL of a migrated database of this module's own (direct, not pooled)."""
    url = scratch.create("tasks_slowdb")
    migrate.apply(url)
    return url


@pytest.fixture(scope="module")
def service(database: str) -> Iterator[Gunicorn]:
    """Run the service as shipped: keep-alive workers (2), default timeouts."""
    settings: dict[str, str | None] = {"THREADS": None, "WORKER_CLASS": None}
    url = database
    if VIA_PGBOUNCER:
        set_database_statement_timeout(database, 2000)  # the service's default, as a role would
        url = via_pgbouncer(database)
        settings["PG_TRANSACTION_POOLING"] = "true"
    server = Gunicorn(url, **settings)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def db(database: str) -> Iterator[psycopg.Connection]:
    """Return a direct connection to the service's database."""
    with psycopg.connect(database, autocommit=True) as conn:
        yield conn


def new_user() -> str:
    return f"slow-{uuid.uuid4().hex[:12]}"


class Clients:
    """Threads that each send their request again and again until stopped, timing every reply."""

    def __init__(self, port: int, requests: list[tuple[str, str, object]]) -> None:
        self.port = port
        self.replies: list[list[tuple[str, Reply]]] = [[] for _ in requests]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n, *request), daemon=True)
            for n, request in enumerate(requests)
        ]

    def _run(self, n: int, method: str, path: str, body: object) -> None:
        while not self._stop.is_set():
            # A client timeout well past the promise, so that a late answer shows its lateness.
            self.replies[n].append((path, call(self.port, method, path, body, timeout=30)))

    def __enter__(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def of(self, n: int) -> list[Reply]:
        """Return the replies client `n` got."""
        return [reply for _, reply in self.replies[n]]


def assert_answered_in_time(replies: list[Reply], allowed: tuple[int, ...] = (200, 503)) -> None:
    """Check every reply came within the promise, with an allowed status (503: Retry-After)."""
    assert replies, "no request was answered"
    late = [
        (r.status, round(r.seconds, 2)) for r in replies if r.seconds > CONTRACT_SECONDS + MARGIN
    ]
    assert not late, f"answered after {CONTRACT_SECONDS} s: {late} of {len(replies)}"
    for reply in replies:
        assert reply.status in allowed, reply
        if reply.status == 503:
            assert reply.headers["retry-after"].isdigit(), reply


def create(port: int, user: str, title: str) -> dict:
    """Create a task, retrying while a worker still fails fast after an earlier fault."""
    deadline = time.monotonic() + 10
    while True:
        reply = call(port, "POST", f"/api/{user}/tasks", {"title": title})
        if reply.status != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert reply.status == 201, reply
    assert isinstance(reply.body, dict)
    return reply.body


def recovered(port: int, user: str) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if call(port, "GET", f"/api/{user}/tasks", timeout=5).status == 200:
            return True
        time.sleep(0.2)
    return False


def test_table_lock_ten_concurrent_reads_and_another_users_requests_answered_within_5_s(
    service: Gunicorn, db: psycopg.Connection
) -> None:
    # The review's case: 10 GETs at once behind LOCK TABLE answered after 2, 2, 4 ... 12 s.
    users = [new_user() for _ in range(10)]
    other = new_user()
    create(service.port, other, "mine")
    burst = [("GET", f"/api/{user}/tasks", None) for user in users]
    watcher = [("GET", f"/api/{other}/stats", None), ("GET", f"/api/{other}/tasks", None)]
    with db.transaction():
        db.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        with Clients(service.port, watcher) as watching:
            time.sleep(0.2)
            with Clients(service.port, burst) as clients:
                time.sleep(0.3)  # every burst client sent its first request
            time.sleep(6)
    bursts = [reply for n in range(len(burst)) for reply in clients.of(n)]
    assert_answered_in_time(bursts)
    assert any(reply.status == 503 for reply in bursts)
    for n in range(len(watcher)):
        assert_answered_in_time(watching.of(n))
    assert recovered(service.port, other)


def test_row_lock_writers_queue_yet_another_users_reads_are_answered_within_5_s(
    service: Gunicorn, db: psycopg.Connection
) -> None:
    owner, other = new_user(), new_user()
    task = create(service.port, owner, "contended")
    create(service.port, other, "mine")
    path = f"/api/{owner}/tasks/{task['id']}"
    writers = [("PATCH", path, {"title": f"w{n}"}) for n in range(6)]
    watcher = [("GET", f"/api/{other}/tasks", None), ("GET", f"/api/{other}/stats", None)]
    with db.transaction():
        db.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (task["id"],))
        with Clients(service.port, watcher) as watching, Clients(service.port, writers) as clients:
            time.sleep(7)
    for n in range(len(writers)):
        assert_answered_in_time(clients.of(n))
    for n in range(len(watcher)):
        assert_answered_in_time(watching.of(n))
    # The lock gone, writes go through again.
    assert recovered(service.port, other)
    deadline = time.monotonic() + 10
    while (reply := call(service.port, "PATCH", path, {"title": "after"})).status == 503:
        assert time.monotonic() < deadline, reply  # a worker's breaker, for its 1 s window
        time.sleep(0.2)
    assert reply.status == 200, reply


@pytest.fixture(scope="module")
def big_user(database: str) -> str:
    """Return a user with 100,000 tasks."""
    user = new_user()
    with psycopg.connect(database, autocommit=True) as conn:
        # The PgBouncer pass sets the database's statement_timeout: not for this set-up.
        conn.execute("SET statement_timeout = 0")
        conn.execute(
            "INSERT INTO tasks (user_id, title, description) "
            "SELECT %s, 'task number ' || g || ' about things', "
            "'a description of moderate length for task ' || g || ' with words' "
            "FROM generate_series(1, 100000) AS g",
            (user,),
        )
        # As a table in steady state is: hint bits set, visibility map and statistics current.
        conn.execute("VACUUM ANALYZE tasks")
    return user


def test_costly_searches_from_several_clients_leave_another_users_requests_within_5_s(
    service: Gunicorn, big_user: str
) -> None:
    other = new_user()
    create(service.port, other, "mine")
    base = f"/api/{big_user}/tasks?q="
    # The review's search: 240 one-letter terms every task matches but the last (7 s of
    # PostgreSQL each on 100k tasks before; one distinct term now counts once).
    repeated = base + quote(" ".join(["a"] * 239 + ["\u0436"]))
    # The costliest search still allowed: the most distinct terms, each found in every task
    # but the last, so each of the 100k tasks is scanned for all of them.
    widest = base + quote(" ".join([*"taskume", "\u0436"]))
    # More distinct terms than that are refused before any database work.
    refused = base + quote(" ".join(chr(0x4E00 + n) for n in range(240)))
    searchers = [("GET", repeated, None)] * 2 + [("GET", widest, None)] * 2
    searchers.append(("GET", refused, None))
    watcher = [("GET", f"/api/{other}/stats", None), ("GET", f"/api/{other}/tasks", None)]
    with Clients(service.port, searchers) as clients, Clients(service.port, watcher) as watching:
        time.sleep(8)
    for n in range(4):
        # Answered, and answered well: none of them needed the statement timeout any more.
        assert_answered_in_time(clients.of(n), allowed=(200,))
        assert all(reply.body == [] for reply in clients.of(n))
    assert_answered_in_time(clients.of(4), allowed=(422,))
    for n in range(len(watcher)):
        # Not one 503: the searches no longer run into the statement timeout.
        assert_answered_in_time(watching.of(n), allowed=(200,))


def deadline_bound_worker(database: str, deadline_ms: int) -> Gunicorn:
    """One keep-alive worker with one thread, the breaker off and no statement timeout: only
    each request's deadline, counted from when the worker read it, bounds its wait."""
    settings: dict[str, str | None] = {"THREADS": None, "WORKER_CLASS": None}
    url = database
    if VIA_PGBOUNCER:
        url = via_pgbouncer(database)
        settings["PG_TRANSACTION_POOLING"] = "true"
    return Gunicorn(
        url,
        **settings,
        WEB_CONCURRENCY="1",
        PG_STATEMENT_TIMEOUT_MS="0",
        DB_DEADLINE_MS=str(deadline_ms),
        DB_BREAKER_OPEN_MS="0",
    )


def contended_task(port: int) -> tuple[dict, str]:
    """Create a task for a new user; return it and its path (the row the tests lock)."""
    task = create(port, new_user(), "contended")
    return task, f"/api/{task['user_id']}/tasks/{task['id']}"


def test_requests_queued_behind_a_slow_one_are_shed_at_their_deadline_not_run_after_it(
    database: str, db: psycopg.Connection
) -> None:
    # The breaker off and no statement timeout to trip it: only the deadline, counted from
    # when the keep-alive worker read each request, bounds the wait. One worker, one thread:
    # 4 writes to a locked row arrive together; the first waits out its 2 s deadline, and the
    # others, whose deadline passed while they queued, are answered at once after it (they
    # were answered at 4, 6 and 8 s when the deadline started with the app).
    server = deadline_bound_worker(database, deadline_ms=2000)
    try:
        server.start()
        task, path = contended_task(server.port)
        replies: list[Reply | None] = [None] * 4
        ready = threading.Barrier(len(replies))

        def send(n: int) -> None:
            ready.wait(10)
            replies[n] = call(server.port, "PATCH", path, {"title": f"w{n}"}, timeout=30)

        with db.transaction():
            db.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (task["id"],))
            threads = [threading.Thread(target=send, args=(n,)) for n in range(len(replies))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        answered = [reply for reply in replies if reply is not None]
        assert len(answered) == len(replies)
        assert [reply.status for reply in answered] == [503] * len(replies)
        assert all(reply.headers["retry-after"].isdigit() for reply in answered)
        # 2 s for the first, then the rest at once: none waits for a second 2 s.
        assert max(reply.seconds for reply in answered) < 3.5, [r.seconds for r in answered]
    finally:
        server.stop()


def test_a_request_sent_on_an_open_connection_while_the_worker_is_busy_counts_its_wait(
    database: str, db: psycopg.Connection
) -> None:
    # A connection the worker has accepted, whose request arrives only once the worker is
    # serving a slow one: its bytes wait in the kernel unseen. Their deadline counts from
    # when they came in (2 s after the slow one began, not 2 s after it ended).
    server = deadline_bound_worker(database, deadline_ms=2000)
    try:
        server.start()
        task, path = contended_task(server.port)
        first: list[Reply] = []
        with db.transaction():
            db.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (task["id"],))
            # Accepted together with the slow one, and watched for its first byte.
            late = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            slow = threading.Thread(
                target=lambda: first.append(call(server.port, "PATCH", path, {"title": "a"}))
            )
            slow.start()
            time.sleep(0.5)  # the worker is inside the slow request now
            body = json.dumps({"title": "b"}).encode()
            sent = time.monotonic()
            late.sendall(
                f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            answer = b""
            while chunk := late.recv(65536):
                answer += chunk
            waited = time.monotonic() - sent
            slow.join(30)
        late.close()
        assert first and first[0].status == 503
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        # Answered once the slow one gave up (1.5 s after sending), not 2 s after that.
        assert waited < 2.8, waited
    finally:
        server.stop()


def test_a_request_whose_body_arrives_while_the_worker_serves_another_counts_from_its_body(
    database: str, db: psycopg.Connection
) -> None:
    # Two connections queue while the worker is busy: a slow request, and one whose head is
    # sent now and its body later. Taken together, the head is buffered behind the slow one;
    # the body reaches the kernel while the slow one is served. The request counts from when
    # its body came in, not from when the worker got round to reading it.
    server = deadline_bound_worker(database, deadline_ms=3000)
    try:
        server.start()
        task, path = contended_task(server.port)
        slow: list[Reply] = []
        body = json.dumps({"title": "late"}).encode()
        with db.transaction():
            db.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (task["id"],))
            threads = [
                threading.Thread(
                    target=lambda: slow.append(call(server.port, "PATCH", path, {"title": "a"}))
                )
                for _ in range(2)
            ]
            threads[0].start()  # the worker waits 3 s on the lock for it
            time.sleep(2.5)
            threads[1].start()  # queued, then waits on the lock until 3 s after it came
            late = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            late.sendall(
                f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            time.sleep(1.0)  # the worker is inside the second slow request now
            sent = time.monotonic()
            late.sendall(body)
            answer = b""
            while chunk := late.recv(65536):
                answer += chunk
            waited = time.monotonic() - sent
            for thread in threads:
                thread.join(30)
        late.close()
        assert [reply.status for reply in slow] == [503, 503]
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        # 3 s after its body came (5 s when counted from the end of the request ahead of it).
        assert waited < 4.0, waited
    finally:
        server.stop()
