"""The keep-alive worker (service/server/keepalive_worker.py), the shipped default.

Unit tests check its balancing rule and the kernel read timeout; the others run gunicorn
-c gunicorn.conf.py as shipped and talk raw HTTP/1.1 to it, so that what happens to the
connection (kept, closed, by whom) is visible.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import selectors
import signal
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn import http
from gunicorn.config import Config as GunicornConfig

from service.core.config import MAX_BODY_BYTES
from service.server.keepalive_worker import (
    ARRIVED,
    BODY_BUFFER_MAX,
    CHUNKED_BUFFER_MAX,
    HEAD_BUFFER_MAX,
    INBUF_MAX,
    BodyTooLarge,
    Connection,
    ConnectionShares,
    KeepAliveWorker,
    forget_worker,
    kernel_arrival,
)
from tests.conftest import waiting_on_a_lock
from tests.test_gunicorn import Server, json_lines, start_server, wait_for
from tests.test_gunicorn_worker import _raw_exchange, _server_socket_inode

# -- the balancing rule ------------------------------------------------------------------------


def _shares(*held: int) -> ConnectionShares:
    shares = ConnectionShares()
    for slot, count in enumerate(held):
        shares.counts[slot] = count
    return shares


def test_a_lone_worker_takes_every_connection():
    assert _shares().fair_to_take(held=0, waiting=5)
    assert _shares(40).fair_to_take(held=40, waiting=1)


def test_a_worker_above_its_share_leaves_new_connections_to_the_others():
    shares = _shares(34, 30)
    assert not shares.fair_to_take(held=34, waiting=1)  # 34 of 65: more than half
    assert shares.fair_to_take(held=30, waiting=1)


def test_a_burst_of_waiting_connections_counts_toward_the_shares():
    # 64 connections arrive at once: each of two idle workers may take up to half of them.
    assert _shares(0, 0).fair_to_take(held=0, waiting=64)
    assert _shares(32, 0).fair_to_take(held=32, waiting=32)
    assert not _shares(33, 0).fair_to_take(held=33, waiting=31)


def test_dead_workers_do_not_count():
    shares = _shares(10, -1, 4)
    assert not shares.fair_to_take(held=10, waiting=1)
    shares.counts[2] = -1
    assert shares.fair_to_take(held=10, waiting=1)


class _Listener:
    def __init__(self, backlog: int) -> None:
        self.backlog = backlog

    def get_backlog(self) -> int:
        return self.backlog


def _worker(held: int, backlog: int, shares: ConnectionShares, slot: int = 0) -> KeepAliveWorker:
    worker = KeepAliveWorker.__new__(KeepAliveWorker)
    worker.cfg = SimpleNamespace(worker_connections=1000)
    worker.sockets = [_Listener(backlog)]
    worker.connections = dict.fromkeys(range(held))
    worker.slot = slot
    worker.left_waiting_since = None
    worker.accept_paused_until = 0.0
    shares.counts[slot] = held
    return worker


def test_a_worker_above_its_share_takes_connections_the_others_leave_waiting(monkeypatch):
    shares = _shares(0, 10)
    monkeypatch.setattr("service.server.keepalive_worker.SHARES", shares)
    clock = iter([100.0, 100.01, 100.2])
    monkeypatch.setattr("service.server.keepalive_worker.time.monotonic", lambda: next(clock))
    worker = _worker(held=20, backlog=2, shares=shares)
    assert not worker.may_accept()  # the other worker (10) should take them...
    assert not worker.may_accept()
    assert worker.may_accept()  # ...but has left them waiting past ACCEPT_FALLBACK


def test_a_worker_never_exceeds_worker_connections(monkeypatch):
    shares = _shares()
    monkeypatch.setattr("service.server.keepalive_worker.SHARES", shares)
    worker = _worker(held=1000, backlog=5, shares=shares)
    assert not worker.may_accept()


def test_a_worker_out_of_file_descriptors_keeps_serving_and_accepts_again_later(monkeypatch):
    shares = _shares()
    monkeypatch.setattr("service.server.keepalive_worker.SHARES", shares)
    worker = _worker(held=3, backlog=1, shares=shares)
    worker.log = SimpleNamespace(warning=lambda *args: None)

    class Exhausted(_Listener):
        def accept(self):
            raise OSError(errno.EMFILE, "Too many open files")

    # accept() reads the clock when it pauses; may_accept() once per call.
    clock = iter([10.0, 10.1, 10.6])
    monkeypatch.setattr("service.server.keepalive_worker.time.monotonic", lambda: next(clock))
    worker.accept(Exhausted(backlog=1))  # no exception: the worker and its connections live
    assert not worker.may_accept()  # 0.1 s later: paused
    assert worker.may_accept()  # past ACCEPT_PAUSE


def test_without_a_known_listen_queue_a_worker_takes_what_comes(monkeypatch):
    shares = _shares(0, 50)
    monkeypatch.setattr("service.server.keepalive_worker.SHARES", shares)
    worker = _worker(held=50, backlog=-1, shares=shares, slot=1)  # e.g. a unix socket
    assert worker.may_accept()


def test_an_exited_worker_is_forgotten(monkeypatch):
    shares = _shares(0, 7)
    monkeypatch.setattr("service.server.keepalive_worker.SHARES", shares)
    exited = KeepAliveWorker.__new__(KeepAliveWorker)
    exited.age = 1 + ConnectionShares.SLOTS  # the slot is the age modulo SLOTS
    forget_worker(exited)
    forget_worker(SimpleNamespace(age=0))  # another worker class: nothing to forget
    assert shares.counts[1] == -1
    assert shares.counts[0] == 0


def test_a_full_worker_closes_its_longest_idle_connections_for_waiting_clients(monkeypatch):
    shares = _shares()
    monkeypatch.setattr("service.server.keepalive_worker.SHARES", shares)
    worker = _worker(held=0, backlog=2, shares=shares)
    worker.connections_gauge = SimpleNamespace(set=lambda count: None)
    pairs = [socket.socketpair() for _ in range(4)]
    try:
        conns = []
        for n, (ours, _) in enumerate(pairs):
            conn = _connection(ours)
            conn.deadline = 100.0 + n  # the first has been idle longest
            worker.connections[ours.fileno()] = conn
            conns.append(conn)
        pairs[0][1].sendall(b"GET /")  # its next request has started arriving: not idle
        conns[1].state = "head"  # a request in progress
        conns[1].inbuf += b"GET /"
        assert worker.make_room(1)
        assert [c.sock.fileno() >= 0 for c in conns] == [True, True, False, True]
        assert worker.make_room(5)  # only one more is idle
        assert [c.sock.fileno() >= 0 for c in conns] == [True, True, False, False]
        assert not worker.make_room(1)
    finally:
        for ours, theirs in pairs:
            ours.close()
            theirs.close()


# -- a request is parsed once it is whole ---------------------------------------------------


def _parsing_worker() -> KeepAliveWorker:
    worker = KeepAliveWorker.__new__(KeepAliveWorker)
    worker.cfg = GunicornConfig()
    worker.inbuf_cap = INBUF_MAX  # as run() sets it
    return worker


def _connection(sock: socket.socket | None = None) -> Connection:
    return Connection(sock, ("127.0.0.1", 40000), ("127.0.0.1", 8000), tls=False)  # type: ignore[arg-type]


def _feed(worker: KeepAliveWorker, conn: Connection, data: bytes, step: int = 1):
    """Add `data` to the buffer `step` bytes at a time until a request parses.

    Return that request's (request, length, early) and how many steps it took.
    """
    for n, start in enumerate(range(0, len(data), step), 1):
        conn.inbuf += data[start : start + step]
        parsed = worker.next_request(conn)
        if parsed is not None:
            return parsed, n
    return None, 0


def test_a_head_arriving_byte_by_byte_is_parsed_once_whole():
    worker, conn = _parsing_worker(), _connection()
    head = b"GET /livez?x=1 HTTP/1.1\r\nHost: tasks\r\nX-A: b\r\n\r\n"
    (req, length, early), steps = _feed(worker, conn, head)
    assert steps == len(head)
    assert (req.method, req.path, length, early) == ("GET", "/livez", len(head), False)


def test_a_body_of_known_length_is_waited_for_and_what_follows_is_left():
    worker, conn = _parsing_worker(), _connection()
    body = b'{"title": "whole"}'
    request = (
        b"POST /api/u/tasks HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    (req, length, early), steps = _feed(worker, conn, request + b"GET /next HTTP/1.1\r\n", 7)
    assert steps == -(-len(request) // 7)  # the step that brought its last byte
    assert (length, early) == (len(request), False)
    assert req.body.read() == body


def test_a_chunked_body_is_waited_for_to_its_last_chunk_and_passed_through():
    worker, conn = _parsing_worker(), _connection()
    request = (
        b"POST /api/u/tasks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"tit\r\n8\r\nle": "ch\r\n7\r\nunked"}\r\n0\r\n\r\n'
    )
    (req, length, early), steps = _feed(worker, conn, request + b"GET /next HTTP/1.1\r\n", 3)
    assert steps == -(-len(request) // 3)
    assert (length, early) == (len(request), False)
    assert req.body.read() == b'{"title": "chunked"}'


def test_a_declared_body_too_large_to_buffer_goes_to_the_app_with_its_head_alone():
    worker, conn = _parsing_worker(), _connection()
    head = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (BODY_BUFFER_MAX + 1)
    conn.inbuf += head + b"{"
    _, length, early = worker.next_request(conn)
    assert early and length == len(head) + BODY_BUFFER_MAX + 1


def test_an_endless_chunked_body_is_refused():
    worker, conn = _parsing_worker(), _connection()
    conn.inbuf += b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    conn.inbuf += b"1000\r\n" + b"x" * 4096 + b"\r\n"
    assert worker.next_request(conn) is None
    while len(conn.inbuf) < CHUNKED_BUFFER_MAX + 10_000:
        conn.inbuf += b"1000\r\n" + b"x" * 4096 + b"\r\n"
    with pytest.raises(BodyTooLarge):
        worker.next_request(conn)


def test_a_head_of_many_fields_is_refused_past_the_buffer_limit():
    worker, conn = _parsing_worker(), _connection()
    conn.inbuf += b"GET / HTTP/1.1\r\nHost: t\r\n"
    while len(conn.inbuf) <= HEAD_BUFFER_MAX:
        conn.inbuf += b"X-Field: " + b"v" * 4000 + b"\r\n"  # each field within gunicorn's limit
    with pytest.raises(http.errors.LimitRequestHeaders):
        worker.next_request(conn)


def test_a_client_expecting_100_continue_is_invited_once_to_send_its_body():
    worker = _parsing_worker()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)
        conn = _connection(ours)
        conn.inbuf += (
            b"POST /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        assert worker.next_request(conn) is None
        conn.inbuf += b"ab"
        assert worker.next_request(conn) is None
        theirs.settimeout(1)
        assert theirs.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.inbuf += b"cd"
        req, _, _ = worker.next_request(conn)
        assert req.body.read() == b"abcd"
        assert not req._expected_100_continue  # the app's gunicorn does not send it again


def _serving_worker(app) -> KeepAliveWorker:
    worker = _parsing_worker()
    worker.wsgi, worker.nr, worker.max_requests, worker.alive = app, 0, 1000, True
    worker.notified, worker.notify, worker.polled = 0.0, lambda: None, 0.0
    quiet = lambda *args: None  # noqa: E731
    worker.log = SimpleNamespace(access=quiet, debug=quiet, info=quiet, exception=quiet)
    worker.ready = collections.deque()
    worker.connections = {}
    worker.poller = selectors.DefaultSelector()
    return worker


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


def test_the_app_learns_when_each_request_was_read_whole():
    arrivals = []

    def app(environ, start_response):
        arrivals.append((environ["PATH_INFO"], environ[ARRIVED]))
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    worker = _serving_worker(app)
    ours, theirs = socket.socketpair()
    with ours, theirs, worker.poller:
        conn = _connection(ours)
        first, second = _get("/a"), _get("/b")
        # One read brought the first request and half the second; a later one the rest.
        conn.inbuf += first + second[:10]
        conn.reads = [(len(conn.inbuf), 100.0)]
        conn.inbuf += second[10:]
        conn.reads.append((len(conn.inbuf), 101.5))
        for _ in range(2):
            worker.serve(conn, *worker.next_request(conn))
            worker.ready.clear()
    assert arrivals == [("/a", 100.0), ("/b", 101.5)]


def _watched(worker: KeepAliveWorker, count: int) -> list[tuple[Connection, socket.socket]]:
    pairs = []
    for _ in range(count):
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        conn = _connection(ours)
        worker.connections[ours.fileno()] = conn
        worker.watch(conn, selectors.EVENT_READ)
        pairs.append((conn, theirs))
    return pairs


def test_a_turn_reads_every_client_before_serving_any():
    served = []  # (path, when the app began, when the request was read)

    def app(environ, start_response):
        served.append((environ["PATH_INFO"], time.monotonic(), environ[ARRIVED]))
        time.sleep(0.02)  # a database round trip, a slow one
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    worker = _serving_worker(app)
    pairs = _watched(worker, 3)
    try:
        for n, (_, theirs) in enumerate(pairs):
            theirs.sendall(_get(f"/{n}"))
        worker.dispatch(worker.poller.select(0))
        assert sorted(path for path, _, _ in served) == ["/0", "/1", "/2"]
        first_began = min(began for _, began, _ in served)
        assert all(read <= first_began for _, _, read in served)
    finally:
        for conn, theirs in pairs:
            conn.sock.close()
            theirs.close()
        worker.poller.close()


def test_a_long_turn_reads_what_clients_sent_meanwhile_for_the_next_turn():
    late: list = []  # the late client's connection and socket

    def app(environ, start_response):
        late[1].sendall(_get("/late"))  # another client sends while this request runs
        time.sleep(0.06)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    worker = _serving_worker(app)
    (busy, busy_client), late[:] = _watched(worker, 2)
    try:
        busy_client.sendall(_get("/busy"))
        worker.dispatch(worker.poller.select(0))
        assert late[0] in worker.ready  # read, to be served next turn
        assert bytes(late[0].inbuf) == _get("/late") and late[0].reads
    finally:
        for conn, client in ((busy, busy_client), late):
            conn.sock.close()
            client.close()
        worker.poller.close()


# -- gunicorn as shipped -------------------------------------------------------------------------

KEEPALIVE_SECONDS = 2


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn -c gunicorn.conf.py with the default worker class, one worker."""
    srv = start_server(
        tmp_path_factory.mktemp("keepalive"),
        DATABASE_URL=database_url,
        WEB_CONCURRENCY="1",
        KEEPALIVE=str(KEEPALIVE_SECONDS),
    )
    try:
        yield srv
    finally:
        srv.stop()


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _request(method: str, path: str, body: dict | None = None, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: tasks"]
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class _Reader:
    """Reads HTTP/1.1 responses (with Content-Length) one after another from one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed before a response: {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            assert self._fill(), "connection closed in the middle of a body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed_by_server(self) -> bool:
        """Wait (up to the socket's timeout) for the server to close; True if it did."""
        try:
            return not self._fill() and not self.buffer
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def test_the_shipped_configuration_runs_the_keepalive_worker(server):
    booted = [entry["message"] for entry in json_lines(server.error_log)]
    assert any("service.server.keepalive_worker.KeepAliveWorker" in message for message in booted)


def test_one_connection_carries_request_after_request(server):
    user = f"ka-{uuid.uuid4()}"
    with _connect(server) as client:
        reader = _Reader(client)
        client.sendall(_request("POST", f"/api/{user}/tasks", {"title": "kept alive"}))
        status, headers, body = reader.response()
        assert status == 201
        assert headers["connection"] == "keep-alive"
        task = json.loads(body)
        client.sendall(_request("PATCH", f"/api/{user}/tasks/{task['id']}/complete"))
        status, _, body = reader.response()
        assert (status, json.loads(body)["completed"]) == (200, True)
        client.sendall(_request("GET", f"/api/{user}/tasks/{task['id']}"))
        status, _, body = reader.response()
        assert (status, json.loads(body)["completed"]) == (200, True)


def test_pipelined_requests_are_answered_in_order(server):
    user = f"ka-{uuid.uuid4()}"
    with _connect(server) as client:
        reader = _Reader(client)
        client.sendall(
            _request("POST", f"/api/{user}/tasks", {"title": "first"})
            + _request("POST", f"/api/{user}/tasks", {"title": "second"})
            + _request("GET", f"/api/{user}/tasks?sort=created_at")
        )
        first, second, listing = reader.response(), reader.response(), reader.response()
    assert (first[0], second[0], listing[0]) == (201, 201, 200)
    titles = [task["title"] for task in json.loads(listing[2])]
    assert titles == ["first", "second"]


def test_a_client_asking_to_close_gets_its_answer_then_the_close(server):
    with _connect(server) as client:
        reader = _Reader(client)
        client.sendall(_request("GET", "/livez", Connection="close"))
        status, headers, _ = reader.response()
        assert (status, headers["connection"]) == (200, "close")
        assert reader.closed_by_server()


def test_an_http_1_0_client_is_answered_and_closed(server):
    with _connect(server) as client:
        reader = _Reader(client)
        client.sendall(b"GET /livez HTTP/1.0\r\n\r\n")
        assert reader.response()[0] == 200
        assert reader.closed_by_server()


def test_an_idle_connection_is_closed_after_the_keepalive_time(server):
    with _connect(server) as client:
        reader = _Reader(client)
        client.sendall(_request("GET", "/livez"))
        assert reader.response()[0] == 200
        client.settimeout(KEEPALIVE_SECONDS + 5)
        assert reader.closed_by_server()


def test_an_unread_oversized_body_gets_its_whole_413_without_holding_up_others(server):
    body = b"x" * (MAX_BODY_BYTES + 10_000)
    head = (
        f"POST /api/ka-user/tasks HTTP/1.1\r\nHost: tasks\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(server) as big, _connect(server) as other:
        big.sendall(head + body)
        reader = _Reader(big)
        status, headers, payload = reader.response()
        assert (status, headers["connection"]) == (413, "close")
        assert json.loads(payload)["status"] == 413
        # The server waits for this client to close (it may still be sending), but not by
        # blocking: the one worker answers another connection meanwhile...
        other.sendall(_request("GET", "/livez"))
        assert _Reader(other).response()[0] == 200
        # ...and closes its end once it has discarded what this client sent.
        assert reader.closed_by_server()


def test_a_client_stalled_mid_request_is_dropped_and_others_are_served(server):
    with _connect(server) as stalled:
        stalled.sendall(b"GET /livez HTTP/1.1\r\nHost: ta")  # and nothing more
        with _connect(server) as other:
            other.settimeout(30)
            other.sendall(_request("GET", "/livez"))
            assert _Reader(other).response()[0] == 200
        stalled.settimeout(30)
        reader = _Reader(stalled)
        status, headers, body = reader.response()  # after HEAD_TIMEOUT
        assert (status, headers["connection"]) == (408, "close")
        assert json.loads(body)["status"] == 408
        assert reader.closed_by_server()


def test_a_body_sent_in_pieces_is_served_once_whole_while_others_are_answered(server):
    user = f"ka-{uuid.uuid4()}"
    request = _request("POST", f"/api/{user}/tasks", {"title": "in pieces"})
    with _connect(server) as slow, _connect(server) as other:
        slow.sendall(request[:-5])
        other.sendall(_request("GET", "/livez"))
        assert _Reader(other).response()[0] == 200  # the one worker is not waiting on `slow`
        time.sleep(0.3)
        slow.sendall(request[-5:])
        reader = _Reader(slow)
        status, headers, _ = reader.response()
        assert (status, headers["connection"]) == (201, "keep-alive")
        slow.sendall(_request("GET", f"/api/{user}/tasks"))
        assert reader.response()[0] == 200


def test_a_chunked_body_reaches_the_app_whole_and_the_connection_carries_on(server):
    user = f"ka-{uuid.uuid4()}"
    head = (
        f"POST /api/{user}/tasks HTTP/1.1\r\nHost: tasks\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    with _connect(server) as client:
        client.sendall(head + b'9\r\n{"title":\r\n')
        time.sleep(0.3)
        client.setblocking(False)
        with pytest.raises(BlockingIOError):
            client.recv(1)  # no answer before the body is whole
        client.setblocking(True)
        client.sendall(b'a\r\n "chunks"}\r\n0\r\n\r\n' + _request("GET", "/livez"))
        reader = _Reader(client)
        status, _, body = reader.response()
        assert (status, json.loads(body)["title"]) == (201, "chunks")
        assert reader.response()[0] == 200  # the request after it, on the same connection


def test_a_client_waiting_for_100_continue_gets_it_then_its_answer(server):
    user = f"ka-{uuid.uuid4()}"
    body = json.dumps({"title": "expected"}).encode()
    head = (
        f"POST /api/{user}/tasks HTTP/1.1\r\nHost: tasks\r\nExpect: 100-continue\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(server) as client:
        client.sendall(head)
        assert client.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        client.sendall(body)
        assert _Reader(client).response()[0] == 201


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/u/tasks HTTP/1.1\r\nHost: t\r\nX-Big: " + b"z" * 20000 + b"\r\n\r\n", 431),
        (b"GARBAGE\x01 NOT HTTP\r\n\r\n", 400),
    ],
    ids=["header-too-large", "not-http"],
)
def test_requests_gunicorn_refuses_get_a_problem_and_a_close(server, request_bytes, status):
    status_line, headers, body = _raw_exchange(server.port, request_bytes)
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["request_id"] == headers["x-request-id"]


def _sockets_of(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _accepting_workers(srv: Server, count: int) -> set[str] | None:
    """Return the pids of the workers that take connections, once there are `count` of them."""
    pids = {
        dict(labels)["pid"]
        for name, labels in srv.scrape()
        if name == "tasks_http_worker_connections"
    }
    return pids if len(pids) == count else None


def test_a_burst_of_connections_is_shared_between_the_workers(database_url, tmp_path):
    srv = start_server(tmp_path, DATABASE_URL=database_url, WEB_CONCURRENCY="2")
    clients: list[socket.socket] = []
    try:
        workers = wait_for(lambda: _accepting_workers(srv, 2), "both workers to take connections")
        # 20 connections at once, before any sends a request: a worker taking all it could
        # would hold every one; sharing, each holds about half.
        clients = [_connect(srv) for _ in range(20)]
        for client in clients:
            client.sendall(_request("GET", "/livez"))
        for client in clients:
            assert _Reader(client).response()[0] == 200
        held = []
        for pid in workers:
            theirs = _sockets_of(int(pid))
            held.append(
                sum(_server_socket_inode(srv.port, c.getsockname()[1]) in theirs for c in clients)
            )
        assert sum(held) == 20
        assert min(held) >= 5, held
    finally:
        for client in clients:
            client.close()
        srv.stop()


def test_a_stopping_worker_closes_its_idle_connections_and_exits(database_url, tmp_path):
    srv = start_server(tmp_path, DATABASE_URL=database_url, WEB_CONCURRENCY="1", KEEPALIVE="30")
    try:
        with _connect(srv) as client:
            reader = _Reader(client)
            client.sendall(_request("GET", "/livez"))
            assert reader.response()[0] == 200
            srv.process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert reader.closed_by_server()
            assert srv.process.wait(timeout=30) == 0
            # Not after the keep-alive time (30 s): a stopping worker lingers 2 s at most.
            assert time.monotonic() - started < 15
    finally:
        srv.stop()


def test_a_worker_past_max_requests_says_close_and_is_replaced(database_url, tmp_path):
    srv = start_server(tmp_path, DATABASE_URL=database_url, WEB_CONCURRENCY="1", MAX_REQUESTS="20")
    try:
        first = wait_for(lambda: _accepting_workers(srv, 1), "the worker to take connections")
        with _connect(srv) as client:
            reader = _Reader(client)
            kept = 0
            while True:  # (start_server's own requests count too)
                client.sendall(_request("GET", "/livez"))
                status, headers, _ = reader.response()
                assert status == 200
                if headers["connection"] == "close":
                    break
                kept += 1
                assert kept < 20
            assert reader.closed_by_server()
        wait_for(
            lambda: (pids := _accepting_workers(srv, 1)) and pids != first,
            "a new worker to replace the one past max_requests",
        )
        with _connect(srv) as client:
            client.sendall(_request("GET", "/livez"))
            assert _Reader(client).response()[0] == 200
    finally:
        srv.stop()


@pytest.mark.parametrize("worker_class", ["keepalive", "sync"])
def test_a_stopping_worker_answers_the_connections_still_in_its_listen_queue(
    database_url, tmp_path, db, worker_class
):
    srv = start_server(
        tmp_path, DATABASE_URL=database_url, WEB_CONCURRENCY="1", WORKER_CLASS=worker_class
    )
    user = f"queued-{uuid.uuid4().hex[:8]}"
    try:
        with _connect(srv) as creating:
            creating.sendall(_request("POST", f"/api/{user}/tasks", {"title": "held"}))
            status, _, body = _Reader(creating).response()
        assert status == 201
        task = json.loads(body)["id"]
        busy, late = _connect(srv), None
        try:
            with db.transaction():
                # The worker's only thread waits on this row lock inside a PATCH...
                db.execute(
                    "SELECT 1 FROM tasks WHERE user_id = %s AND id = %s FOR UPDATE", (user, task)
                )
                busy.sendall(_request("PATCH", f"/api/{user}/tasks/{task}", {"title": "x"}))
                wait_for(lambda: waiting_on_a_lock(db), "the PATCH to wait on the lock")
                # ...so this connection waits in the listen queue, not yet accepted...
                late = _connect(srv)
                late.sendall(_request("GET", "/livez"))
                # ...when the worker is told to stop.
                srv.process.send_signal(signal.SIGTERM)
                time.sleep(0.5)
            assert _Reader(busy).response()[0] == 200
            status, headers, _ = _Reader(late).response()
            assert (status, headers["connection"]) == (200, "close")
        finally:
            busy.close()
            if late is not None:
                late.close()
        assert srv.process.wait(timeout=30) == 0
    finally:
        srv.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """Write a throwaway certificate for 127.0.0.1 and its key; return their paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_connections_are_kept_alive_too(database_url, tmp_path):
    cert, key = _self_signed(tmp_path)
    srv = start_server(
        tmp_path,
        DATABASE_URL=database_url,
        WEB_CONCURRENCY="1",
        GUNICORN_CMD_ARGS=f"--certfile {cert} --keyfile {key}",
    )
    context = ssl.create_default_context(cafile=str(cert))
    try:
        # Two clients stalled in their handshakes (nothing sent; a ClientHello cut short)...
        with _connect(srv) as silent, _connect(srv) as halfway:
            halfway.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            time.sleep(0.2)
            started = time.monotonic()
            # ...hold up no one: the one worker completes this handshake meanwhile.
            with context.wrap_socket(_connect(srv), server_hostname="127.0.0.1") as client:
                reader = _Reader(client)
                user = f"ka-{uuid.uuid4()}"
                client.sendall(_request("POST", f"/api/{user}/tasks", {"title": "over tls"}))
                status, headers, body = reader.response()
                assert (status, headers["connection"]) == (201, "keep-alive")
                assert time.monotonic() - started < 2
                client.sendall(_request("GET", f"/api/{user}/tasks/{json.loads(body)['id']}"))
                assert reader.response()[0] == 200
            # Past the handshake deadline, the stalled ones are closed.
            silent.settimeout(10)
            assert _Reader(silent).closed_by_server()
    finally:
        srv.stop()


def test_kernel_arrival_is_when_the_last_data_came_in_and_falls_back_without_tcp_info():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)  # waiting in the listen queue, as behind a busy worker
            server, _ = listener.accept()
            with server:
                came = kernel_arrival(server, fallback=time.monotonic())
                assert 0.25 < time.monotonic() - came < 1.0
    left, right = socket.socketpair()  # no TCP_INFO on a Unix socket
    with left, right:
        assert kernel_arrival(left, fallback=42.0) == 42.0


def test_bytes_read_long_after_their_connection_was_seen_empty_count_from_their_arrival():
    # Whatever path leads the worker back to a connection after a long turn (read ahead, a
    # buffered head served next, a new connection from the listen queue), what it reads then
    # is stamped with when the kernel received it.
    worker = KeepAliveWorker.__new__(KeepAliveWorker)
    worker.inbuf_cap = INBUF_MAX
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            client.sendall(b"PATCH /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")
            time.sleep(0.3)  # queued, unaccepted
            server, _ = listener.accept()
            with server:
                server.setblocking(False)
                conn = Connection(server, ("127.0.0.1", 1), listener.getsockname(), tls=False)
                worker.receive(conn)
                (_, head_at), *_ = conn.reads
                assert 0.25 < time.monotonic() - head_at < 1.0  # from the listen queue
                sent = time.monotonic()
                client.sendall(b"{}")  # the body, while the worker is busy elsewhere
                time.sleep(0.3)
                worker.receive(conn)
                (_, body_at) = conn.reads[-1]
                assert len(conn.inbuf) == conn.reads[-1][0]
                assert abs(body_at - sent) < 0.05, body_at - sent
                client.sendall(b"GET /y HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.01)  # read promptly: stamped with when it was read
                worker.receive(conn)
                assert time.monotonic() - conn.reads[-1][1] < 0.05
