"""gunicorn's sync worker without the wait for the client's FIN; gunicorn's refusals as problems.

Since gunicorn 26 a sync worker closes every connection "gracefully" (RFC 9112 section 9.6):
it half-closes, then blocks reading until the client closes its side, for up to 2 s. That
protects a response from being cut by a TCP reset when the client is still sending (unread
request data at close time makes the kernel answer with RST). But a sync worker serves one
connection at a time, so the wait is paid by every request queued behind it: under load it
was ~20 % of the worker's wall time, a round trip to the client per request
(bench/RESULTS.md, "Closing connections").

This worker skips the wait only when there is nothing left that could trigger the reset:
the request had no body or the app read all of it, and no further bytes sit unread in the
kernel. Otherwise (an unread body, e.g. a 413 or a 401 before the body was read; a chunked
body; bytes already waiting) gunicorn's graceful close runs as before. The one case left
uncovered is a client that pipelines another request on a connection the server said it
would close, which no browser or proxy does.

`install_problem_errors` (called by gunicorn.conf.py) makes gunicorn's own answers to
requests that never reach the app (a malformed or oversized request line, oversized
headers) application/problem+json with a request id, like every other error, instead of
gunicorn's HTML page that quotes the offending input.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from typing import Any

import orjson
from gunicorn import util
from gunicorn.workers import sync

# How long a stopping worker keeps serving requests already on their way.
STOP_LINGER = 2.0


def body_fully_read(req: Any) -> bool:
    """Return True when the request carried no body or the app read all of it."""
    reader = getattr(getattr(req, "body", None), "reader", None)
    # gunicorn's LengthReader counts down the Content-Length still to read; any other reader
    # (chunked, read to EOF) leaves its end unknown, so the caller treats it as unread.
    return getattr(reader, "length", None) == 0


def request_fully_received(req: Any, client: socket.socket) -> bool:
    """Return True when closing `client` now cannot reset the connection under the response.

    True when the request carried no body or the app read all of it, and the kernel holds no
    further bytes from the client.
    """
    if not body_fully_read(req):
        return False
    try:
        pending = client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True  # nothing waiting, and the client has not closed either
    except (OSError, ValueError):
        # ValueError: a TLS socket takes no recv() flags (gunicorn's certfile setting);
        # the graceful close is the safe answer there.
        return False
    # b"": the client already closed its side; anything else: unread bytes.
    return pending == b""


class SyncWorker(sync.SyncWorker):
    """gunicorn's sync worker that closes a fully received request's connection at once.

    It also answers, when it stops, the connections still waiting in the listen queue.
    """

    def run(self) -> None:
        super().run()
        self.answer_queued()

    def answer_queued(self) -> None:
        """Answer the connections left in the listen queue, for up to STOP_LINGER seconds.

        They were sent while every worker was busy; closing the listener would reset them,
        leaving their clients unsure whether a write was applied. Each answer says "close".
        """
        deadline = time.monotonic() + min(STOP_LINGER, self.cfg.graceful_timeout)
        for listener in self.sockets:
            while time.monotonic() < deadline:
                try:
                    self.accept(listener)
                except OSError as e:
                    if e.errno == errno.ECONNABORTED:  # that one gave up; others may wait
                        continue
                    break  # EAGAIN: none left

    def handle_request(self, listener: Any, req: Any, client: socket.socket, addr: Any) -> None:
        """Serve the request as gunicorn does, then close at once when that is safe.

        gunicorn's `handle()` then runs its graceful close on the closed socket, whose
        half-close fails (EBADF) and ends it there without waiting.
        """
        super().handle_request(listener, req, client, addr)
        if request_fully_received(req, client):
            client.close()


# What gunicorn's own error answers say instead of its message, which quotes the offending
# request line or header: a problem body echoes no client input (docs/security.md).
_DETAILS = {
    400: "The request is not valid HTTP/1.1.",
    403: "The request was refused.",
    414: "The request line is longer than this server accepts.",
    417: "The expectation in the Expect header cannot be met.",
    431: "The request's header fields are larger than this server accepts.",
    500: "The server failed to handle the request.",
    501: "The request's transfer coding is not supported.",
}


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Answer a request gunicorn itself refused with an RFC 9457 problem, like the app's.

    gunicorn calls this (in place of its `util.write_error`, which writes an HTML page) when
    a request cannot reach the app: a malformed request line, an oversized line or headers.
    The request never got an id from the app, so the answer makes one, in X-Request-ID and
    in the body, for the caller to quote.
    """
    request_id = os.urandom(16).hex()
    body = orjson.dumps(
        {
            "type": "about:blank",
            "title": reason,
            "status": status_int,
            "detail": _DETAILS.get(status_int, reason),
            "request_id": request_id,
        }
    )
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install_problem_errors() -> None:
    """Make every gunicorn worker (sync or gthread) answer its own refusals as problems.

    gunicorn has no hook for the body of these answers: its workers call
    `gunicorn.util.write_error`, which this replaces (gunicorn.conf.py calls it once, in the
    master, before any worker is forked).
    """
    if not hasattr(util, "write_error"):
        raise RuntimeError("gunicorn.util.write_error is gone: revisit install_problem_errors")
    util.write_error = write_problem
