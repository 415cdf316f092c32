"""A real HTTP receiver on 127.0.0.1 for webhook tests: records each request, answers as told.

Also what the webhook tests share: an address no delivery ever reaches (`NOWHERE`) and
`subscribe` (the app that accepts such URLs is conftest's `hooks_app`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from webtest import TestApp

TASK_EVENTS = ["task.created", "task.updated", "task.completed", "task.uncompleted", "task.deleted"]

# Loopback, and a port nothing listens on: any worker of the suite that picks these
# deliveries up is refused at once, and no name is ever looked up.
NOWHERE = "http://127.0.0.1:9/in"


def subscribe(app: TestApp, user_id: str, events: list[str] = TASK_EVENTS, url: str = NOWHERE):
    """Create a webhook of the user's through the API and return it."""
    body = {"url": url, "events": events}
    return app.post_json(f"/api/{user_id}/webhooks", body, status=201).json


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """What a receiver got, and the status codes it answers with (the last one repeats)."""

    port: int
    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Wait until `count` requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        with self.lock:
            raise AssertionError(f"got {len(self.requests)} requests, expected {count}")


@contextmanager
def receiver(statuses: list[int] | None = None, delay: float = 0.0) -> Iterator[Receiver]:
    """Run a receiver on a free loopback port in a thread for the block."""
    state: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert state is not None
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                state.requests.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.monotonic(),
                    )
                )
                index = len(state.requests) - 1
                status = state.statuses[min(index, len(state.statuses) - 1)]
            if state.delay:
                time.sleep(state.delay)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(server.server_address[1], list(statuses or [200]), delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def wait_until(condition: Callable[[], object], timeout: float = 15.0, what: str = "") -> object:
    """Poll `condition` until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


@pytest.fixture(autouse=True)
def quiet_webhooks(database_url: str) -> Iterator[None]:
    """After each test, disable the loopback webhooks it made (imported by the webhook tests).

    The suite shares one database: a delivery left due by one test would otherwise be sent
    by another test's worker, to a receiver port that may since belong to someone else.
    """
    yield
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE webhooks SET enabled = false "
            "WHERE enabled AND (url LIKE 'http://127.0.0.1:%%' OR url LIKE 'https://127.0.0.1:%%')"
        )
