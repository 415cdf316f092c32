"""Hostile and unlucky clients against the real service: slow, stalled and idle connections
by the hundred, and requests that arrive while a worker is busy.

gunicorn runs as shipped (the keep-alive worker, two workers) on 127.0.0.1; the clients are
real sockets. The contract: other clients' answers are not delayed by more than 1 s, no
worker is killed by the arbiter, and no request that arrived whole goes unanswered.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import waiting_on_a_lock
from tests.faultkit import Gunicorn, call

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SLOW_CLIENTS = 500
IDLE_SOCKETS = 2000
BYTE_EVERY = 4.0  # seconds between two bytes of a slow client
OTHERS_WAIT_AT_MOST = 1.0
# Short enough that a worker stuck on one client is killed within a case's window.
ARBITER_TIMEOUT = "5"


def _raise_descriptor_limit(needed: int) -> None:
    """Let this process (and the gunicorn it starts) hold `needed` sockets, or skip."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the descriptor limit ({hard}) is below the {needed} these tests hold")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@pytest.fixture(scope="module")
def service(database_url: str) -> Iterator[Gunicorn]:
    """Run the service under gunicorn as shipped (keep-alive worker), two workers."""
    _raise_descriptor_limit(2 * IDLE_SOCKETS + 1000)
    server = Gunicorn(database_url, WORKER_CLASS=None, THREADS=None, TIMEOUT=ARBITER_TIMEOUT)
    try:
        server.start()
        yield server
    finally:
        server.stop()


class Probe(threading.Thread):
    """A well-behaved client: GET /livez on a new connection every 0.1 s, each timed."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.seconds: list[float] = []
        self.failures: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            reply = call(self.port, "GET", "/livez", timeout=15)
            self.seconds.append(reply.seconds)
            if reply.status != 200:
                self.failures.append(f"{reply.status} {reply.error}")
            self._halt.wait(0.1)

    def finish(self) -> None:
        self._halt.set()
        self.join(30)


class SlowClients(threading.Thread):
    """Connections that send `prefix` at once, then `trickle` one byte every BYTE_EVERY s."""

    def __init__(self, port: int, count: int, prefix: bytes, trickle: bytes = b"") -> None:
        super().__init__(daemon=True)
        self.socks = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(prefix)
            sock.setblocking(False)
            self.socks.append(sock)
        self.trickle = trickle
        self._halt = threading.Event()

    def run(self) -> None:
        if not self.trickle:
            return
        sent = 0
        while not self._halt.is_set():
            byte = self.trickle[sent % len(self.trickle) : sent % len(self.trickle) + 1]
            for sock in self.socks:  # spread over the period, like independent clients
                if self._halt.wait(BYTE_EVERY / len(self.socks)):
                    return
                with contextlib.suppress(OSError):  # dropped by the server: fine
                    sock.send(byte)
            sent += 1

    def dropped(self) -> int:
        """Return how many connections the server answered (408) or closed."""
        count = 0
        for sock in self.socks:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data or data.startswith(b"HTTP/1.1 408 "):
                count += 1
        return count

    def close(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(10)
        for sock in self.socks:
            sock.close()


def wait_for_workers(service: Gunicorn, count: int) -> list[int]:
    """Return the worker pids once `count` workers run."""
    deadline = time.monotonic() + 15
    while len(workers := service.workers()) != count:
        assert time.monotonic() < deadline, workers
        time.sleep(0.1)
    return workers


def assert_service_unharmed(service: Gunicorn, workers: list[int], probe: Probe) -> None:
    """Every probe answered 200 within OTHERS_WAIT_AT_MOST, and no worker was replaced."""
    assert probe.seconds, "no probe finished"
    assert not probe.failures, probe.failures[:5]
    slowest = max(probe.seconds)
    assert slowest < OTHERS_WAIT_AT_MOST, (
        f"slowest of {len(probe.seconds)} answers: {slowest:.2f} s"
    )
    assert sorted(service.workers()) == sorted(workers), "a worker was replaced"
    assert "WORKER TIMEOUT" not in service.log.read_text()


SLOW_CASES = {
    # One header byte every 4 s: the head never ends.
    "header-trickle": (b"GET /livez HTTP/1.1\r\n", b"X-Slow: " + b"a" * 60),
    # A whole head announcing 60,000 bytes of body, which come one every 4 s.
    "body-trickle": (
        b"POST /api/slow/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60000\r\n\r\n",
        b"x",
    ),
    # A head one CRLF short of its end, then silence.
    "stalled-head": (b"GET /livez HTTP/1.1\r\nHost: x\r\n", b""),
}


@pytest.mark.parametrize("case", SLOW_CASES)
def test_hundreds_of_slow_clients_do_not_delay_others_or_get_workers_killed(
    service: Gunicorn, case: str
) -> None:
    prefix, trickle = SLOW_CASES[case]
    workers = wait_for_workers(service, 2)
    slow = SlowClients(service.port, SLOW_CLIENTS, prefix, trickle)
    probe = Probe(service.port)
    try:
        slow.start()
        probe.start()
        # Past the head deadline (5 s), with the arbiter's timeout (5 s) passed too.
        time.sleep(6.5)
        probe.finish()
        assert_service_unharmed(service, workers, probe)
        if case != "body-trickle":  # the body has 10 s
            assert slow.dropped() == SLOW_CLIENTS
    finally:
        probe.finish()
        slow.close()


def test_clients_that_do_not_read_their_answers_do_not_delay_others(service: Gunicorn) -> None:
    workers = wait_for_workers(service, 2)
    # Each pipelines far more answers (47 KB of /openapi.json each) than the kernel buffers
    # between them hold, and reads none: the server's writes to them cannot complete.
    readers = []
    for _ in range(4):  # both workers get some
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", service.port))
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 300)
        readers.append(sock)
    probe = Probe(service.port)
    try:
        probe.start()
        time.sleep(3)
        probe.finish()
        assert_service_unharmed(service, workers, probe)
    finally:
        probe.finish()
        for sock in readers:
            sock.close()


def test_thousands_of_idle_sockets_do_not_keep_new_clients_out(service: Gunicorn) -> None:
    workers = wait_for_workers(service, 2)
    # More than the two workers hold (worker_connections 1000 each): without making room,
    # new clients wait in the listen queue until idle ones time out.
    idle = SlowClients(service.port, IDLE_SOCKETS, b"")
    probe = Probe(service.port)
    try:
        probe.start()
        time.sleep(3)  # within the 5 s the idle sockets may stay
        probe.finish()
        assert_service_unharmed(service, workers, probe)
    finally:
        probe.finish()
        idle.close()


def _request(method: str, path: str, body: dict | None = None) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: tasks\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return (head + "\r\n").encode() + payload


def _response(sock: socket.socket) -> tuple[int, bytes]:
    """Read one response (with Content-Length) from `sock`; return its status and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of a body"
        body += chunk
    return int(head.split()[1]), body


def test_requests_sent_on_kept_alive_connections_while_the_worker_is_busy_are_answered(
    database_url: str, db: psycopg.Connection
) -> None:
    # One worker, a 1 s keep-alive: the worker is held longer than that by a request waiting
    # on a row lock, while kept-alive clients send their next request.
    server = Gunicorn(
        database_url, WORKER_CLASS=None, THREADS=None, WEB_CONCURRENCY="1", KEEPALIVE="1"
    )
    user = f"busy-{uuid.uuid4().hex[:8]}"
    clients: list[socket.socket] = []
    try:
        server.start()
        task = call(server.port, "POST", f"/api/{user}/tasks", {"title": "locked"}).body
        assert isinstance(task, dict)
        clients = [
            socket.create_connection(("127.0.0.1", server.port), timeout=15) for _ in range(20)
        ]
        for sock in clients:
            sock.sendall(_request("GET", "/livez"))
            assert _response(sock)[0] == 200  # now kept alive, idle
        busy = socket.create_connection(("127.0.0.1", server.port), timeout=15)
        with db.transaction():
            db.execute(
                "SELECT 1 FROM tasks WHERE user_id = %s AND id = %s FOR UPDATE", (user, task["id"])
            )
            busy.sendall(_request("PATCH", f"/api/{user}/tasks/{task['id']}", {"title": "x"}))
            deadline = time.monotonic() + 10
            while not waiting_on_a_lock(db):
                assert time.monotonic() < deadline, "the PATCH never waited on the lock"
                time.sleep(0.02)
            # The worker is busy: these whole requests wait in the kernel...
            for n, sock in enumerate(clients):
                sock.sendall(_request("POST", f"/api/{user}/tasks", {"title": f"sent-{n}"}))
            # ...past the keep-alive time counted from their last answer.
            time.sleep(1.5)
        clients.append(busy)
        assert _response(busy)[0] in (200, 503)  # 503: the lock outlived the statement timeout
        clients.pop()
        statuses = []
        for sock in clients:
            try:
                statuses.append(_response(sock)[0])
            except OSError as error:  # a reset: the request was dropped unanswered
                statuses.append(repr(error))
        assert statuses == [201] * len(clients)
        stored = db.execute("SELECT title FROM tasks WHERE user_id = %s", (user,)).fetchall()
        titles = {row["title"] for row in stored}
        assert {f"sent-{n}" for n in range(len(clients))} <= titles
    finally:
        for sock in clients:
            sock.close()
        server.stop()
