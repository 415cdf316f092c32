"""gunicorn's sync worker, minus the wait for the client's FIN after a fully read request.

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
"""

from __future__ import annotations

import socket
from typing import Any

from gunicorn.workers import sync


def request_fully_received(req: Any, client: socket.socket) -> bool:
    """Return True when closing `client` now cannot reset the connection under the response.

    True when the request carried no body or the app read all of it, and the kernel holds no
    further bytes from the client.
    """
    reader = getattr(getattr(req, "body", None), "reader", None)
    # gunicorn's LengthReader counts down the Content-Length still to read; any other reader
    # (chunked, read to EOF) leaves its end unknown, so the graceful close handles it.
    if getattr(reader, "length", None) != 0:
        return False
    try:
        pending = client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True  # nothing waiting, and the client has not closed either
    except OSError:
        return False
    # b"": the client already closed its side; anything else: unread bytes.
    return pending == b""


class SyncWorker(sync.SyncWorker):
    """gunicorn's sync worker that closes a fully received request's connection at once."""

    def handle_request(self, listener: Any, req: Any, client: socket.socket, addr: Any) -> None:
        """Serve the request as gunicorn does, then close at once when that is safe.

        gunicorn's `handle()` then runs its graceful close on the closed socket, whose
        half-close fails (EBADF) and ends it there without waiting.
        """
        super().handle_request(listener, req, client, addr)
        if request_fully_received(req, client):
            client.close()
