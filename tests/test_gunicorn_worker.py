"""service/server/sync_worker.py: when the sync worker closes at once, and gunicorn's refusals.

gunicorn's own sync worker waits after every response for the client to close first. Ours
closes at once when the whole request was read and nothing more is waiting, and keeps
gunicorn's graceful close otherwise, so that an unread request body can never make the
kernel reset the connection under the response. Requests gunicorn refuses itself get
problem+json like every other error.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from service.core.config import MAX_BODY_BYTES
from service.server.sync_worker import request_fully_received
from tests.test_gunicorn import Server, json_lines, start_server


def _request(body_left: int | None) -> SimpleNamespace:
    """A stand-in for gunicorn's parsed request: a Content-Length body with `body_left` unread."""
    reader = SimpleNamespace() if body_left is None else SimpleNamespace(length=body_left)
    return SimpleNamespace(body=SimpleNamespace(reader=reader))


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair: (the server's end, the client's end)."""
    server_end, client_end = socket.socketpair()
    yield server_end, client_end
    server_end.close()
    client_end.close()


def test_a_read_request_with_nothing_waiting_may_close_at_once(connection):
    server_end, _ = connection
    assert request_fully_received(_request(body_left=0), server_end)


def test_an_unread_body_keeps_the_graceful_close(connection):
    server_end, _ = connection
    assert not request_fully_received(_request(body_left=10), server_end)


def test_a_body_of_unknown_length_keeps_the_graceful_close(connection):
    server_end, _ = connection
    assert not request_fully_received(_request(body_left=None), server_end)


def test_bytes_waiting_in_the_kernel_keep_the_graceful_close(connection):
    server_end, client_end = connection
    client_end.sendall(b"GET / HTTP/1.1\r\n")
    assert not request_fully_received(_request(body_left=0), server_end)
    assert server_end.recv(100) == b"GET / HTTP/1.1\r\n", "the check must not consume them"


def test_a_client_that_already_closed_may_be_closed_at_once(connection):
    server_end, client_end = connection
    client_end.shutdown(socket.SHUT_WR)
    assert request_fully_received(_request(body_left=0), server_end)


def test_a_tls_socket_keeps_the_graceful_close():
    class TlsLike:
        """Like ssl.SSLSocket: recv() refuses flags."""

        def recv(self, size: int, flags: int = 0) -> bytes:
            raise ValueError("non-zero flags not allowed in calls to recv()")

    assert not request_fully_received(_request(body_left=0), TlsLike())


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn -c gunicorn.conf.py with WORKER_CLASS=sync, one worker, on a free port."""
    srv = start_server(
        tmp_path_factory.mktemp("gunicorn-worker"),
        DATABASE_URL=database_url,
        WEB_CONCURRENCY="1",
        WORKER_CLASS="sync",
    )
    try:
        yield srv
    finally:
        srv.stop()


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _server_socket_inode(server_port: int, client_port: int) -> int | None:
    """Return the inode of the server's end of a loopback connection (0: no process holds it).

    A socket its process has closed lives on in the kernel until the TCP close completes,
    "orphaned", with inode 0; one a process still holds (e.g. while it waits for the
    client's FIN) has the inode of its file descriptor.
    """
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[9])
    return None


def test_worker_class_sync_runs_this_worker(server):
    booted = [entry["message"] for entry in json_lines(server.error_log)]
    assert any("service.server.sync_worker.SyncWorker" in message for message in booted)


def test_after_a_whole_request_the_worker_lets_go_of_the_connection_at_once(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        client.sendall(b"GET /livez HTTP/1.1\r\nHost: tasks\r\n\r\n")
        answer = _read_until_closed(client)
        assert answer.startswith(b"HTTP/1.1 200 ")
        # The client still holds its end open. gunicorn's own worker would be holding its
        # end too, waiting (up to 2 s) for the client's FIN; ours has already closed it.
        inode = _server_socket_inode(server.port, client.getsockname()[1])
        assert inode in (0, None)


def test_an_unread_oversized_body_still_gets_its_whole_413(server):
    body = b"x" * (MAX_BODY_BYTES + 10_000)
    head = (
        f"POST /api/worker-user/tasks HTTP/1.1\r\nHost: tasks\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        client.sendall(head + body)
        answer = _read_until_closed(client)
    head_part, _, payload = answer.partition(b"\r\n\r\n")
    assert head_part.startswith(b"HTTP/1.1 413 ")
    assert b"application/problem+json" in head_part.lower()
    assert json.loads(payload)["status"] == 413


def _raw_exchange(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(request)
        answer = _read_until_closed(client)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line, headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/u/tasks?x=" + b"y" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET /api/u/tasks HTTP/1.1\r\nHost: t\r\nX-Big: " + b"z" * 20000 + b"\r\n\r\n", 431),
        (b"GARBAGE\x01 NOT HTTP\r\n\r\n", 400),
    ],
    ids=["request-line-too-long", "header-too-large", "not-http"],
)
def test_requests_gunicorn_refuses_get_a_problem_with_a_request_id(server, request_bytes, status):
    status_line, headers, body = _raw_exchange(server.port, request_bytes)
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert problem["request_id"] == headers["x-request-id"]
    # The offending input is not echoed back.
    assert b"yyyy" not in body and b"zzzz" not in body and b"GARBAGE" not in body
