"""A gunicorn worker that keeps connections alive on one thread: an event loop, requests inline.

gunicorn's sync worker closes the connection after every request, so each request from a
client or proxy that would keep its connection open pays a TCP connect, accept and close on
both sides (on a loopback benchmark the load generator alone spent 20-30 % of a core on it).
gthread keeps connections alive, but hands every request from its poller to a thread pool
and back, which cost more CPU per request than it saved here (bench/RESULTS.md).

This worker does what gthread's main loop does, minus the hand-offs: one selector watches the
listening sockets and the idle kept-alive connections, and a connection that turns readable
has its request parsed, run through the app and answered right there, in the loop. That suits
this service because a request holds the worker for well under a millisecond (one round trip
to PostgreSQL); while it runs, the other connections wait, exactly as requests queued for a
sync worker wait in the listen backlog.

What it shares with the sync worker: one request at a time, so it belongs behind a buffering
proxy like any sync worker, and a client that stalls in the middle of its request holds the
worker until the read times out (READ_TIMEOUT below, instead of the arbiter's kill).

What differs: connections stay open up to `keepalive` seconds while idle (`KEEPALIVE`, 0
turns keep-alive off), at most `worker_connections` per worker; a stopping worker answers
what its clients already sent with "Connection: close" for up to 2 s, then closes the rest.
HTTP/2 is not served (gthread does that); TLS is, as by the sync worker.
"""

from __future__ import annotations

import errno
import mmap
import os
import selectors
import socket
import ssl
import sys
import time
from datetime import datetime
from typing import Any

from gunicorn import http, sock, util
from gunicorn.http import wsgi
from gunicorn.workers import base

from service.server.sync_worker import STOP_LINGER, body_fully_read, request_fully_received

# Longest wait for the rest of a request, or for a client to take its answer, once a request
# has started: the one connection being served holds up every other one of this worker.
READ_TIMEOUT = 5.0
# Connections taken from the listen queue per wake-up: enough to take a burst of new clients
# quickly, few enough that the other workers get a share of it.
ACCEPT_BATCH = 256
# How long a worker holding more than its share of connections leaves new ones to the others.
ACCEPT_FALLBACK = 0.05
# How long a worker that ran out of file descriptors waits before it accepts again.
ACCEPT_PAUSE = 0.5
# A connection closed after a request whose body was not read waits this long (and discards
# at most this much) for the client to close its side: gunicorn's util.close_graceful figures.
GRACEFUL_CLOSE = 2.0
GRACEFUL_DRAIN_MAX = 65536


class Connection:
    """One client connection: its socket, its HTTP parser and when it stops waiting idle."""

    __slots__ = ("client", "closing", "drained", "idle_until", "parser", "server", "sock")

    def __init__(self, client_sock: socket.socket, client: Any, server: Any, cfg: Any) -> None:
        self.sock = client_sock
        self.client = client
        self.server = server
        self.parser = http.get_parser(cfg, client_sock, client)
        self.idle_until = 0.0
        self.closing = False  # the answer is sent; waiting for the client to close
        self.drained = 0

    def has_buffered_request(self) -> bool:
        """Return True when bytes of a next (pipelined) request are already read.

        The selector cannot see them: they sit in the parser's buffer, or in the TLS layer's.
        """
        if self.parser.unreader.buf.getvalue():
            return True
        pending = getattr(self.sock, "pending", None)  # an ssl.SSLSocket's decrypted bytes
        return bool(pending and pending())


def set_read_timeout(client_sock: socket.socket, seconds: float) -> None:
    """Bound each blocking recv/send of `client_sock` in the kernel (SO_RCVTIMEO/SO_SNDTIMEO).

    Unlike `settimeout()`, which makes Python poll before every call, the kernel timeout
    costs nothing per call; a call that times out fails with EAGAIN.
    """
    whole = int(seconds)
    timeval = whole.to_bytes(8, sys.byteorder) + int((seconds - whole) * 1e6).to_bytes(
        8, sys.byteorder
    )
    client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


class ConnectionShares:
    """How many connections each live worker holds, in memory all of the master's workers share.

    A kept-alive connection stays with the worker that accepted it, so connections taken
    unevenly stay uneven: one worker's clients then queue behind more requests than the
    other's, which shows as a longer tail. With these counts, and the number of connections
    waiting in the listen queue, a worker takes a new connection only while it holds no more
    than its share of all of them (or when the others leave it waiting, see ACCEPT_FALLBACK).

    The table is made when this module is imported, which gunicorn does in the master (to
    load worker_class) before it forks any worker, so every worker sees the same memory.
    Imported in a worker only, the table is that worker's own and balancing does nothing.
    A worker's slot is its age (gunicorn numbers the workers it starts) modulo SLOTS.
    """

    SLOTS = 64

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, self.SLOTS * 4)  # anonymous, so shared across fork()
        self.counts = memoryview(self._memory).cast("i")
        for slot in range(self.SLOTS):
            self.counts[slot] = -1  # no live worker

    def fair_to_take(self, held: int, waiting: int) -> bool:
        """Whether a worker holding `held` connections is due the next of `waiting` ones."""
        live = [count for count in self.counts if count >= 0]
        if not live:
            return True
        return held * len(live) <= sum(live) + waiting


SHARES = ConnectionShares()


def forget_worker(worker: Any) -> None:
    """Drop an exited worker's count (gunicorn.conf.py's child_exit calls this, in the master)."""
    if isinstance(worker, KeepAliveWorker):
        SHARES.counts[worker.age % SHARES.SLOTS] = -1


class KeepAliveWorker(base.Worker):
    """gunicorn worker: one thread, kept-alive connections, each request served inline."""

    def init_process(self) -> None:
        self.poller = selectors.DefaultSelector()
        self.connections: dict[int, Connection] = {}
        self.accepting = False
        self.slot = self.age % SHARES.SLOTS
        self.left_waiting_since: float | None = None
        self.accept_paused_until = 0.0
        super().init_process()

    def publish(self) -> None:
        """Tell the other workers (and /metrics) how many connections this one holds."""
        SHARES.counts[self.slot] = len(self.connections)
        self.connections_gauge.set(len(self.connections))

    def waiting(self) -> int | None:
        """Return how many connections wait in the listen queues (None: unknown)."""
        total = 0
        for listener in self.sockets:
            backlog = getattr(listener, "get_backlog", lambda: -1)()
            if backlog < 0:  # not a TCP listener on Linux
                return None
            total += backlog
        return total

    def may_accept(self) -> bool:
        """Whether to take a new connection now: below the limit and not above its share.

        Above its share, a worker leaves waiting connections to the others, but takes them
        itself once they have waited ACCEPT_FALLBACK seconds: the others may be busy or stuck.
        """
        held = len(self.connections)
        if held >= self.cfg.worker_connections:
            return False
        if self.accept_paused_until and self.accept_paused_until > time.monotonic():
            return False
        waiting = self.waiting()
        if waiting is None or SHARES.fair_to_take(held, waiting):
            self.left_waiting_since = None
            return True
        if not waiting:
            self.left_waiting_since = None
            return False
        now = time.monotonic()
        if self.left_waiting_since is None:
            self.left_waiting_since = now
        return now - self.left_waiting_since >= ACCEPT_FALLBACK

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
        # Signals (SIGTERM, SIGQUIT) write to this pipe, which wakes the selector.
        self.poller.register(self.PIPE[0], selectors.EVENT_READ, None)
        # Imported here, after fork: the master must not create metric files of its own.
        from service.core.metrics import WORKER_CONNECTIONS

        self.connections_gauge = WORKER_CONNECTIONS.labels("keepalive")
        self.publish()  # from now on this worker counts among those that take connections
        next_sweep = time.monotonic() + 1.0
        while self.alive:
            self.notify()
            self.set_accepting(self.may_accept())
            # While leaving new connections to the others, look again soon.
            self.dispatch(self.poller.select(1.0 if self.accepting else ACCEPT_FALLBACK / 2))
            now = time.monotonic()
            if now >= next_sweep:
                self.close_idle(now)
                next_sweep = now + 1.0
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
        self.stop()

    def set_accepting(self, accepting: bool) -> None:
        if accepting == self.accepting:
            return
        for listener in self.sockets:
            if accepting:
                self.poller.register(listener, selectors.EVENT_READ, listener)
            else:
                self.poller.unregister(listener)
        self.accepting = accepting

    def dispatch(self, events: list[tuple[selectors.SelectorKey, int]]) -> None:
        for key, _ in events:
            target = key.data
            if isinstance(target, Connection):
                self.serve(target)
            elif target is None:
                self.drain_wakeup_pipe()
            else:
                self.accept(target)

    def drain_wakeup_pipe(self) -> None:
        try:
            while os.read(self.PIPE[0], 4096):
                pass
        except BlockingIOError:
            pass

    def accept(self, listener: Any) -> None:
        """Take the connections waiting, up to ACCEPT_BATCH or this worker's share."""
        for _ in range(ACCEPT_BATCH):
            if not self.may_accept():
                return
            try:
                client_sock, client = listener.accept()
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    return
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of file descriptors or memory: keep serving the connections held
                    # (gunicorn's workers would exit and drop them all), retry in a while.
                    self.log.warning("Cannot accept connections for now: %s", e)
                    self.accept_paused_until = time.monotonic() + ACCEPT_PAUSE
                    return
                raise
            self.add(client_sock, client, listener.getsockname())

    def take_queued(self) -> None:
        """Accept every connection waiting in the listen queues now, shares or not."""
        for listener in self.sockets:
            while len(self.connections) < self.cfg.worker_connections:
                try:
                    client_sock, client = listener.accept()
                except OSError as e:
                    if e.errno == errno.ECONNABORTED:  # that one gave up; others may wait
                        continue
                    break  # EAGAIN: none left (or none can be had now: stopping anyway)
                self.add(client_sock, client, listener.getsockname())

    def add(self, client_sock: socket.socket, client: Any, server: Any) -> None:
        """Watch a new connection for its first request."""
        client_sock.setblocking(True)
        set_read_timeout(client_sock, READ_TIMEOUT)
        if self.cfg.is_ssl:
            try:
                client_sock = sock.ssl_wrap_socket(client_sock, self.cfg)
            except (OSError, ValueError) as e:
                self.log.debug("TLS handshake failed: %s", e)
                util.close(client_sock)
                return
        conn = Connection(client_sock, client, server, self.cfg)
        self.connections[conn.sock.fileno()] = conn
        # The request is usually there already; if not, the selector says when it is.
        self.poller.register(conn.sock, selectors.EVENT_READ, conn)
        self.publish()
        conn.idle_until = time.monotonic() + max(self.cfg.keepalive, READ_TIMEOUT)

    def close_idle(self, now: float) -> None:
        """Close the connections that stayed idle past their keep-alive time."""
        for conn in [c for c in self.connections.values() if c.idle_until <= now]:
            self.close(conn)

    def stop(self) -> None:
        """Stop accepting, answer what is already on its way (with "close"), close the rest.

        What is on its way includes the connections still waiting in the listen queue: they
        were sent while this worker was busy, and closing the listener would reset them.
        """
        self.set_accepting(False)
        deadline = time.monotonic() + min(STOP_LINGER, self.cfg.graceful_timeout)
        self.take_queued()
        for conn in self.connections.values():
            conn.idle_until = min(conn.idle_until, deadline)
        while self.connections and time.monotonic() < deadline:
            self.notify()
            self.dispatch(self.poller.select(max(deadline - time.monotonic(), 0.0)))
            self.close_idle(time.monotonic())
        for conn in list(self.connections.values()):
            self.close(conn)
        SHARES.counts[self.slot] = -1
        self.poller.close()
        for listener in self.sockets:
            listener.close()

    # -- one connection ---------------------------------------------------------------------

    def serve(self, conn: Connection) -> None:
        """Answer the request(s) waiting on `conn`; keep it open or close it after."""
        if conn.closing:
            self.drain_closing(conn)
            return
        while True:
            req = None
            keep = False
            answered = False
            try:
                req = next(conn.parser)
                answered = True
                keep = self.handle_request(conn, req)
            except http.errors.NoMoreData as e:
                self.log.debug("Ignored premature client disconnection. %s", e)
            except StopIteration as e:
                self.log.debug("Closing connection. %s", e)
            except ssl.SSLError as e:
                if e.args[0] != ssl.SSL_ERROR_EOF:
                    self.log.debug("Error processing SSL request.")
                    self.handle_error(req, conn.sock, conn.client, e)
                    answered = True
            except OSError as e:
                self.log_socket_error(e)
            except Exception as e:
                self.handle_error(req, conn.sock, conn.client, e)
                answered = True
            if not keep:
                if answered and not request_fully_received(req, conn.sock):
                    self.start_graceful_close(conn)
                else:
                    self.close(conn)
                return
            if not conn.has_buffered_request():
                conn.idle_until = time.monotonic() + self.cfg.keepalive
                return

    def log_socket_error(self, e: OSError) -> None:
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
            self.log.debug("Client too slow: read or write timed out after %ss", READ_TIMEOUT)
        elif e.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
            self.log.debug("Ignoring client disconnect: %s", e)
        else:
            self.log.exception("Socket error processing request.")

    def start_graceful_close(self, conn: Connection) -> None:
        """Close as RFC 9112 section 9.6 asks, without holding up the other connections.

        Unread request bytes at close make the kernel reset the connection, which can cut the
        answer short: so send FIN first, then read and discard what the client still sends
        (whenever it turns readable) until it closes too, or GRACEFUL_CLOSE seconds pass.
        gunicorn's own `util.close_graceful` does this by blocking for up to 2 s.
        """
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close(conn)
            return
        conn.closing = True
        conn.idle_until = time.monotonic() + GRACEFUL_CLOSE

    def drain_closing(self, conn: Connection) -> None:
        """Discard what a closing connection's client sent; close at its EOF or past a cap."""
        try:
            data = conn.sock.recv(65536)
        except OSError:
            data = b""
        conn.drained += len(data)
        if not data or conn.drained >= GRACEFUL_DRAIN_MAX:
            self.close(conn)

    def close(self, conn: Connection) -> None:
        fd = conn.sock.fileno()
        if fd >= 0 and self.connections.pop(fd, None) is not None:
            self.poller.unregister(conn.sock)
            self.publish()
        util.close(conn.sock)

    def handle_request(self, conn: Connection, req: Any) -> bool:
        """Run the app for `req` and write its answer; return whether to keep `conn` open.

        The same steps as gunicorn's gthread worker, on this thread.
        """
        environ: dict[str, Any] = {}
        resp = None
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(req, conn.sock, conn.client, conn.server, self.cfg)
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
            if not self.alive or not self.cfg.keepalive:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            if not body_fully_read(req):
                # The app left (part of) the body unread, e.g. a 413 or a 401: the client may
                # still be sending it, so the answer says the connection ends with it.
                resp.force_close()
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            if resp.should_close():
                return False
        except OSError:
            raise
        except (Exception, SystemExit):
            if resp and resp.headers_sent:
                # The answer has started: a 500 now would corrupt it, so the connection ends.
                self.log.exception("Error handling request")
                raise StopIteration() from None
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")
        return True
