"""A gunicorn worker that keeps connections alive on one thread: an event loop, requests inline.

gunicorn's sync worker closes the connection after every request, so each request from a
client or proxy that would keep its connection open pays a TCP connect, accept and close on
both sides (on a loopback benchmark the load generator alone spent 20-30 % of a core on it).
gthread keeps connections alive, but hands every request from its poller to a thread pool
and back, which cost more CPU per request than it saved here (bench/RESULTS.md).

This worker does what gthread's main loop does, minus the hand-offs: one selector watches the
listening sockets and every connection. It never waits on one client: sockets are
non-blocking, what a client sends is read into that connection's buffer as it arrives, and
a request reaches the app only once it is there whole (head and body), parsed by gunicorn's
own parser from the buffer (so its limits, header rules and refusals are unchanged). The
answer goes into an output buffer and is sent as the client takes it. A request then holds
the worker only for the time the app spends on it (well under a millisecond here: one round
trip to PostgreSQL), whatever the client's speed, and the loop tells the arbiter it is alive
on every turn.

Slow and stalled clients are bounded per request, not per read: the head must arrive within
HEAD_TIMEOUT of its first byte, the body within BODY_TIMEOUT of the head, the answer be taken
within WRITE_TIMEOUT. A connection idles at most `keepalive` seconds after its last read or
answer, is never closed as idle while bytes from its client wait unread, and when a worker
holds `worker_connections` and more clients wait to be accepted, the longest-idle connections
are closed to make room (as nginx reuses idle keep-alive connections).

What differs from the sync worker: connections stay open up to `keepalive` seconds while idle
(`KEEPALIVE`, 0 turns keep-alive off), at most `worker_connections` per worker; a stopping
worker answers what its clients already sent with "Connection: close" for up to 2 s, then
closes the rest. HTTP/2 is not served (gthread does that); TLS is, with the handshake done
without blocking too.
"""

from __future__ import annotations

import collections
import errno
import mmap
import os
import selectors
import socket
import ssl
import struct
import time
from datetime import datetime
from typing import Any

from gunicorn import http, util
from gunicorn import sock as gsock
from gunicorn.http import wsgi
from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.http.unreader import Unreader
from gunicorn.workers import base

from service.core.config import MAX_BODY_BYTES
from service.data.deadline import ARRIVED  # when the request was read whole, for its deadline
from service.server.sync_worker import STOP_LINGER, write_problem

# Whole-request deadlines (seconds): a client must send a request's head within HEAD_TIMEOUT
# of its first byte, its body within BODY_TIMEOUT of the end of the head, and take the answer
# within WRITE_TIMEOUT. A TLS handshake gets HEAD_TIMEOUT too. Past one, the connection closes.
HEAD_TIMEOUT = 5.0
BODY_TIMEOUT = 10.0
WRITE_TIMEOUT = 10.0
# A body is buffered whole before the app runs when its declared length is at most this (the
# app refuses larger ones from the Content-Length alone, so they go to it at once, and their
# body reads end where the buffer does: a route that accepts bodies over MAX_BODY_BYTES needs
# this raised); a chunked body whose framing passes CHUNKED_BUFFER_MAX unfinished is refused
# here with a 413.
BODY_BUFFER_MAX = MAX_BODY_BYTES
CHUNKED_BUFFER_MAX = 4 * MAX_BODY_BYTES
# Largest recv(); a head is parsed again only when its end may have arrived, or every
# HEAD_PROBE_STEP bytes so that gunicorn's size limits answer an oversized head early.
RECV_SIZE = 65536
HEAD_PROBE_STEP = 8192
# Largest request head buffered (431 past it). gunicorn's own limits allow some 800 KB (100
# fields of 8 KiB), which it held for one connection at a time; here every connection may
# hold its buffer at once. The service's heads are well under 8 KiB.
HEAD_BUFFER_MAX = 65536
# What a connection's input buffer holds at most: reading waits past it. Always enough for a
# whole request or an error to answer.
INBUF_MAX = HEAD_BUFFER_MAX + CHUNKED_BUFFER_MAX
# In a turn of the loop this long, clients are read again between two requests, so that a
# request's arrival time (ARRIVED) is when it came, not when the requests ahead were done.
# Bytes read this long after their connection was last seen empty are stamped with when the
# kernel received them (TCP_INFO), not with when they were read.
READ_AHEAD_AFTER = 0.05
# How often idle and late connections are looked for.
SWEEP_INTERVAL = 0.5
# Connections taken from the listen queue per wake-up: enough to take a burst of new clients
# quickly, few enough that the other workers get a share of it.
ACCEPT_BATCH = 256
# How long a worker holding more than its share of connections leaves new ones to the others.
ACCEPT_FALLBACK = 0.05
# How long a worker that ran out of file descriptors waits before it accepts again.
ACCEPT_PAUSE = 0.5
# A connection closed while its client may still be sending waits this long (and discards at
# most this much) for the client to close its side: gunicorn's util.close_graceful figures.
GRACEFUL_CLOSE = 2.0
GRACEFUL_DRAIN_MAX = 65536

# What a connection is doing, which says which deadline applies.
HANDSHAKE = "handshake"  # TLS handshake under way
IDLE = "idle"  # no byte of a next request yet
HEAD = "head"  # part of a request head arrived
BODY = "body"  # the head is whole, part of the body is missing
WRITE = "write"  # an answer is being sent
CLOSING = "closing"  # the answer is sent and the write side shut; draining until the client closes
READING = (IDLE, HEAD, BODY)

# struct tcp_info (linux/tcp.h): tcpi_last_data_recv, the milliseconds since data last came in.
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_TCP_INFO_SIZE = 104
_LAST_DATA_RECV = struct.Struct("=I")
_LAST_DATA_RECV_OFFSET = 52

_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT
# ssl.SSLSocket.recv takes no flags; the plain socket method peeks at the kernel's bytes.
_raw_recv = socket.socket.recv


class Incomplete(Exception):
    """The buffered bytes end before the request does."""


class BodyTooLarge(Exception):
    """A chunked body's framing passed CHUNKED_BUFFER_MAX before its end."""


class BufferUnreader(Unreader):
    """gunicorn's parser input, read from a connection's buffer instead of its socket.

    Past the buffered bytes it raises Incomplete (more may come), or returns b"" once the
    client has closed its side (gunicorn's parser then reports the request as cut short).
    """

    def __init__(self, data: bytes, eof: bool) -> None:
        super().__init__()
        self.data = data
        self.pos = 0
        self.eof = eof

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self.pos >= len(self.data):
            if self.eof:
                return b""
            raise Incomplete
        piece = self.data[self.pos :] if self.pos else self.data
        self.pos = len(self.data)
        return piece

    def consumed(self) -> int:
        """Return how many buffered bytes the parser has taken so far."""
        return self.pos - self.buf.seek(0, os.SEEK_END)


class Outbox:
    """The socket gunicorn's response writes to: it keeps the bytes for the loop to send."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = bytearray()

    def sendall(self, data: bytes) -> None:
        self.data += data

    def send(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, flag: bool) -> None:
        pass


class BufferedResponse(wsgi.Response):
    """gunicorn's response, written to an Outbox: a file body is copied, never sendfile()d."""

    def can_sendfile(self) -> bool:
        return False


class Connection:
    """One client connection: its socket, what it sent and what it is being sent."""

    __slots__ = (
        "after_write",
        "client",
        "continued",
        "deadline",
        "drained",
        "eof",
        "events",
        "inbuf",
        "need",
        "outbuf",
        "probed",
        "reads",
        "req_count",
        "seen_empty",
        "server",
        "sock",
        "state",
        "tls",
    )

    def __init__(self, client_sock: socket.socket, client: Any, server: Any, tls: bool) -> None:
        self.sock = client_sock
        self.client = client
        self.server = server
        self.tls = tls
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.state = IDLE
        self.deadline = 0.0
        self.events = 0
        self.eof = False  # the client closed its side
        self.probed = 0  # buffered bytes already looked at for the end of the head
        self.req_count = 0
        # (end of the bytes one recv() added to inbuf, when it returned): when each buffered
        # request arrived whole.
        self.reads: list[tuple[int, float]] = []
        # When its kernel buffer was last seen empty: bytes read later came in since then.
        # Never, for a new connection: its request may have waited in the listen queue.
        self.seen_empty = 0.0
        self.drained = 0
        self.need = 0  # the buffered length at which the request in progress is whole
        self.continued = False  # "100 Continue" sent for the request in progress
        self.after_write = "keep"  # once the answer is out: "keep", "close" or "graceful"

    def unread_in_kernel(self) -> bool:
        """Return True when the client sent bytes this worker has not read yet."""
        if self.tls and self.sock.pending():
            return True
        try:
            return bool(_raw_recv(self.sock, 1, _PEEK))
        except OSError:
            return False


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
        self.ready: collections.deque[Connection] = collections.deque()
        self.accepting = False
        self.slot = self.age % SHARES.SLOTS
        self.left_waiting_since: float | None = None
        self.accept_paused_until = 0.0
        self.tls_context: ssl.SSLContext | None = None
        self.notified = 0.0
        self.polled = 0.0  # when the clients' sockets were last read
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
        At the limit, it closes its longest-idle connections for the clients waiting.
        """
        held = len(self.connections)
        if self.accept_paused_until and self.accept_paused_until > time.monotonic():
            return False
        waiting = self.waiting()
        if held >= self.cfg.worker_connections:
            if not waiting:  # none, or unknown
                self.left_waiting_since = None
                return False
            now = time.monotonic()
            if self.left_waiting_since is None:
                self.left_waiting_since = now
            if now - self.left_waiting_since < ACCEPT_FALLBACK:
                return False  # another worker may have room for them
            return self.make_room(min(waiting, ACCEPT_BATCH))
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

    def make_room(self, wanted: int) -> bool:
        """Close up to `wanted` of the longest-idle connections; return whether any closed.

        An idle kept-alive connection may be closed at any time (RFC 9112 section 9.6), and
        a client waiting to be accepted has a request to send; one that sent nothing may be
        an attacker holding sockets open to keep others out.
        """
        # A TLS handshake under way counts as idle: no request has started on it.
        idle = [
            c for c in self.connections.values() if c.state in (IDLE, HANDSHAKE) and not c.inbuf
        ]
        idle.sort(key=lambda c: c.deadline)
        closed = 0
        for conn in idle:
            if closed >= wanted:
                break
            if conn.unread_in_kernel():
                continue
            self.close(conn)
            closed += 1
        return closed > 0

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
        if self.cfg.is_ssl:
            self.tls_context = gsock.ssl_context(self.cfg)
        # Enough to hold any head and any body this worker buffers, so that it always holds
        # a whole request or an error to answer: past it, reading waits.
        self.inbuf_cap = INBUF_MAX
        # Signals (SIGTERM, SIGQUIT) write to this pipe, which wakes the selector.
        self.poller.register(self.PIPE[0], selectors.EVENT_READ, None)
        # Imported here, after fork: the master must not create metric files of its own.
        from service.core.metrics import WORKER_CONNECTIONS

        self.connections_gauge = WORKER_CONNECTIONS.labels("keepalive")
        self.publish()  # from now on this worker counts among those that take connections
        next_sweep = time.monotonic() + SWEEP_INTERVAL
        while self.alive:
            self.notify()
            self.notified = time.monotonic()
            self.set_accepting(self.may_accept())
            if self.ready:
                timeout = 0.0
            else:
                # While leaving new connections to the others, look again soon.
                timeout = SWEEP_INTERVAL if self.accepting else ACCEPT_FALLBACK / 2
            events = self.poller.select(timeout)
            self.dispatch(events)
            self.serve_ready()
            now = time.monotonic()
            if now >= next_sweep:
                self.sweep(now)
                next_sweep = now + SWEEP_INTERVAL
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
        """Handle what the selector reported: read every client first, then serve them.

        Reading all of them before serving any stamps each request with when it came off
        the kernel (ARRIVED), not with when the requests ahead of it were done.
        """
        self.polled = time.monotonic()
        readable = []
        for key, mask in events:
            target = key.data
            if isinstance(target, Connection):
                if target.sock.fileno() < 0:
                    continue  # closed earlier in this turn (make_room)
                if target.state in READING:
                    self.pull(target)
                    readable.append(target)
                else:
                    self.on_event(target, mask)
            elif target is None:
                self.drain_wakeup_pipe()
            else:
                self.accept(target)
        for conn in readable:
            if conn.sock.fileno() >= 0 and conn.state in READING:
                self.advance(conn)

    def read_ahead(self) -> None:
        """In a long turn, read what clients sent meanwhile; serve it on the next turn."""
        self.polled = time.monotonic()
        for key, _ in self.poller.select(0):
            conn = key.data
            if isinstance(conn, Connection) and conn.sock.fileno() >= 0:
                if conn.state in READING:
                    self.pull(conn)
                    self.ready.append(conn)  # read already: the selector may not say so

    def serve_ready(self) -> None:
        """Serve one buffered (pipelined) request of each connection that had one waiting."""
        for _ in range(len(self.ready)):
            conn = self.ready.popleft()
            if conn.sock.fileno() >= 0 and conn.state in READING:
                if conn.inbuf or conn.eof:
                    self.advance(conn)  # read already
                else:
                    self.on_readable(conn)

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
        """Watch a new connection for its first request (after its TLS handshake)."""
        client_sock.setblocking(False)
        now = time.monotonic()
        if self.tls_context is not None:
            try:
                client_sock = self.tls_context.wrap_socket(
                    client_sock,
                    server_side=True,
                    do_handshake_on_connect=False,
                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
                )
            except (OSError, ValueError) as e:
                self.log.debug("TLS setup failed: %s", e)
                util.close(client_sock)
                return
        conn = Connection(client_sock, client, server, self.tls_context is not None)
        self.connections[client_sock.fileno()] = conn
        self.publish()
        if conn.tls:
            conn.state, conn.deadline = HANDSHAKE, now + HEAD_TIMEOUT
            self.handshake(conn)
            return
        # The first request gets the keep-alive time, and no less than a head's.
        conn.deadline = now + max(self.cfg.keepalive, HEAD_TIMEOUT)
        # The request is usually there already: read it now, serve it once this turn's other
        # clients have been read (and the accepts are done), so that a long request served
        # meanwhile counts toward its deadline. If not there, the selector says when it is.
        self.pull(conn)
        if conn.inbuf or conn.eof:
            self.ready.append(conn)
        else:
            self.watch(conn, selectors.EVENT_READ)

    def watch(self, conn: Connection, events: int) -> None:
        """Make the selector watch `conn` for `events` (0: not at all)."""
        if events == conn.events:
            return
        if not events:
            self.poller.unregister(conn.sock)
        elif not conn.events:
            self.poller.register(conn.sock, events, conn)
        else:
            self.poller.modify(conn.sock, events, conn)
        conn.events = events

    def sweep(self, now: float) -> None:
        """Close connections past their deadline: idle too long, or too slow to send or take."""
        for conn in [c for c in self.connections.values() if c.deadline <= now]:
            if conn.state == IDLE:
                if conn.unread_in_kernel():
                    self.on_readable(conn)  # a request arrived just now: never close on it
                    continue
                self.close(conn)
            elif conn.state in (HEAD, BODY):
                self.log.debug("Client too slow: the request was not whole in time")
                self.refuse(conn, 408, "Request Timeout")
            else:  # HANDSHAKE, WRITE, CLOSING
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
            conn.deadline = min(conn.deadline, deadline)
        while self.connections and time.monotonic() < deadline:
            self.notify()
            timeout = 0.0 if self.ready else min(SWEEP_INTERVAL, deadline - time.monotonic())
            self.dispatch(self.poller.select(max(timeout, 0.0)))
            self.serve_ready()
            self.sweep(time.monotonic())
        for conn in list(self.connections.values()):
            self.close(conn)
        SHARES.counts[self.slot] = -1
        self.poller.close()
        for listener in self.sockets:
            listener.close()

    # -- one connection ---------------------------------------------------------------------

    def on_event(self, conn: Connection, mask: int) -> None:
        if conn.state == HANDSHAKE:
            self.handshake(conn)
        elif conn.state == WRITE:
            self.flush(conn)
        elif conn.state == CLOSING:
            self.drain_closing(conn)
        else:
            self.on_readable(conn)

    def handshake(self, conn: Connection) -> None:
        """Advance a TLS handshake as far as the client's bytes allow, without blocking."""
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.watch(conn, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self.watch(conn, selectors.EVENT_WRITE)
            return
        except (OSError, ValueError) as e:
            self.log.debug("TLS handshake failed: %s", e)
            self.close(conn)
            return
        conn.state = IDLE
        conn.deadline = time.monotonic() + max(self.cfg.keepalive, HEAD_TIMEOUT)
        self.on_readable(conn)

    def receive(self, conn: Connection) -> None:
        """Move what the client sent into the connection's buffer, without waiting for more."""
        sock = conn.sock
        cap = self.inbuf_cap
        # Bytes read long after the buffer was last seen empty may have waited in the kernel
        # unseen (in the listen queue, or while this worker served others, whatever the
        # connection's state): stamp them with when they came in, so their deadline counts it.
        stamp = None
        while len(conn.inbuf) < cap:  # enough to decide on; the rest waits in the kernel
            try:
                data = sock.recv(RECV_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                conn.seen_empty = time.monotonic()
                return
            except InterruptedError:
                continue
            except (ssl.SSLEOFError, ConnectionResetError):
                data = b""
            except OSError as e:
                self.log_socket_error(e)
                data = b""
            if not data:
                conn.eof = True
                return
            conn.inbuf += data
            if len(conn.reads) >= 32:
                # A client trickling bytes: forget the oldest reads (a request they ended
                # then counts as arriving later, never earlier).
                del conn.reads[:16]
            now = time.monotonic()
            if stamp is None:
                stamp = now
                if now - conn.seen_empty > READ_AHEAD_AFTER:
                    stamp = max(conn.seen_empty, min(now, kernel_arrival(sock, now)))
            conn.reads.append((len(conn.inbuf), stamp))
            if len(data) < RECV_SIZE and not (conn.tls and sock.pending()):
                conn.seen_empty = now
                return

    def on_readable(self, conn: Connection) -> None:
        """Read what arrived; serve the request once it is whole."""
        self.pull(conn)
        self.advance(conn)

    def pull(self, conn: Connection) -> None:
        """Read what arrived; a first byte starts the head's deadline."""
        before = len(conn.inbuf)
        self.receive(conn)
        if len(conn.inbuf) > before and conn.state == IDLE:
            conn.state = HEAD
            conn.deadline = time.monotonic() + HEAD_TIMEOUT

    def advance(self, conn: Connection) -> None:
        """Serve the next request buffered on `conn` if it is whole, else wait for more."""
        request = None
        try:
            request = self.next_request(conn)
        except BodyTooLarge:
            self.refuse(conn, 413, "Content Too Large")
            return
        except Exception as e:
            self.answer_error(conn, None, e)
            return
        if request is None:
            if conn.eof:
                # The client closed its side before a whole request: nothing to answer.
                self.close(conn)
                return
            self.watch(conn, selectors.EVENT_READ)
            return
        req, length, early = request
        self.serve(conn, req, length, early)

    def next_request(self, conn: Connection) -> tuple[Any, int, bool] | None:
        """Return (request, its length in bytes, whether its body is yet to come), or None.

        None while the buffered bytes hold no whole request. A request whose declared body is
        larger than BODY_BUFFER_MAX goes to the app with its head alone ("early"): the app
        refuses it from its Content-Length, and the connection closes after the answer.
        """
        buf = conn.inbuf
        if not buf:
            return None
        if conn.state in (IDLE, HEAD):
            # Parse only once the head may be whole: a slow client sending a byte at a time
            # costs a search, not a parse, per byte.
            start = max(conn.probed - 3, 0)
            if (
                buf.find(b"\r\n\r\n", start) < 0
                and buf.find(b"\n\n", start) < 0  # a bare-LF head, for gunicorn to refuse
                and len(buf) - conn.probed < HEAD_PROBE_STEP
                and not conn.eof
            ):
                return None
            conn.probed = len(buf)
            if len(buf) > HEAD_BUFFER_MAX and buf.find(b"\r\n\r\n", 0, HEAD_BUFFER_MAX) < 0:
                raise http.errors.LimitRequestHeaders("request head too large")
        elif len(buf) < conn.need and not conn.eof:
            return None  # the body of known length is not all here yet
        data = bytes(buf)
        source = BufferUnreader(data, conn.eof)
        try:
            req = http.message.Request(self.cfg, source, conn.client, conn.req_count + 1)
        except Incomplete:
            return None
        except StopIteration:
            # Only bytes gunicorn skips (a leading CRLF) and the client closed.
            conn.inbuf.clear()
            conn.reads.clear()
            return None
        reader = req.body.reader
        head = source.consumed()
        if conn.state in (IDLE, HEAD):
            conn.state = BODY
            conn.deadline = time.monotonic() + BODY_TIMEOUT
        if isinstance(reader, LengthReader):
            if reader.length > BODY_BUFFER_MAX:
                source.eof = True  # should the app read the body, it ends where the buffer does
                return self.take(conn, req, head + reader.length, early=True)
            if len(data) - head < reader.length:
                conn.need = head + reader.length
                self.continue_100(conn, req)
                return None
            return self.take(conn, req, head + reader.length, early=False)
        if not isinstance(reader, ChunkedReader):  # gunicorn gives any other request no body
            return self.take(conn, req, head, early=False)
        # Chunked: the body's end is known only by reading its framing through.
        try:
            req.body.read()
        except Incomplete:
            if len(data) - head > CHUNKED_BUFFER_MAX:
                raise BodyTooLarge from None
            self.continue_100(conn, req)
            return None
        length = source.consumed()
        # Parse it again for the app, which reads the body itself.
        source = BufferUnreader(data[:length], eof=True)
        req = http.message.Request(self.cfg, source, conn.client, conn.req_count + 1)
        return self.take(conn, req, length, early=False)

    def take(self, conn: Connection, req: Any, length: int, early: bool) -> tuple[Any, int, bool]:
        """Count `req` as the connection's next request; its body is here (or never waited for)."""
        conn.req_count += 1
        conn.probed = conn.need = 0
        conn.continued = False
        # Sent while the body was awaited, or not at all: an early request is answered
        # without inviting its body.
        req._expected_100_continue = False
        return req, length, early

    def continue_100(self, conn: Connection, req: Any) -> None:
        """Tell a client waiting for "100 Continue" to send its body (once per request)."""
        if req._expected_100_continue and not conn.continued:
            conn.continued = True
            conn.outbuf += b"HTTP/1.1 100 Continue\r\n\r\n"
            self.send_some(conn)
            conn.outbuf.clear()  # a client that does not take 25 bytes gets no second try

    def serve(self, conn: Connection, req: Any, length: int, early: bool) -> None:
        """Run the app for a whole request and start sending its answer."""
        out = Outbox()
        keep = False
        # When its last byte was read (an early request: its head's).
        whole = min(length, len(conn.inbuf))
        arrived = next((at for end, at in conn.reads if end >= whole), time.monotonic())
        try:
            keep = self.handle_request(conn, req, out, early, arrived)
        except Exception as e:
            self.handle_error(req, out, conn.client, e)
            keep = False
        conn.outbuf = out.data
        if early or length > len(conn.inbuf):
            conn.inbuf.clear()
            conn.reads.clear()
            conn.after_write = "graceful"  # the client may still be sending the body
        else:
            del conn.inbuf[:length]
            conn.reads = [(end - length, at) for end, at in conn.reads if end > length]
            if not keep:
                conn.after_write = "graceful" if conn.inbuf else "close"
            else:
                conn.after_write = "keep"
        conn.state = WRITE
        now = time.monotonic()
        conn.deadline = now + WRITE_TIMEOUT
        self.flush(conn)
        if now - self.polled > READ_AHEAD_AFTER:
            self.read_ahead()

    def answer_error(self, conn: Connection, req: Any, e: Exception) -> None:
        """Answer a request gunicorn's parser refused (400, 414, 431...) and close."""
        if isinstance(e, http.errors.NoMoreData):
            self.log.debug("Ignored premature client disconnection. %s", e)
            self.close(conn)
            return
        out = Outbox()
        self.handle_error(req, out, conn.client, e)
        conn.outbuf = out.data
        conn.inbuf.clear()
        conn.reads.clear()
        conn.after_write = "graceful"
        conn.state = WRITE
        conn.deadline = time.monotonic() + WRITE_TIMEOUT
        self.flush(conn)

    def refuse(self, conn: Connection, status: int, reason: str) -> None:
        """Answer a too-slow request with `status` (best effort, nothing waits) and close."""
        out = Outbox()
        write_problem(out, status, reason, reason)
        conn.outbuf = out.data
        conn.inbuf.clear()
        conn.reads.clear()
        conn.after_write = "graceful"
        conn.state = WRITE
        conn.deadline = time.monotonic() + GRACEFUL_CLOSE
        self.flush(conn)

    def send_some(self, conn: Connection) -> bool:
        """Send what the client takes now; return False when the connection failed."""
        while conn.outbuf:
            try:
                sent = conn.sock.send(conn.outbuf)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return True
            except InterruptedError:
                continue
            except OSError as e:
                self.log_socket_error(e)
                return False
            del conn.outbuf[:sent]
        return True

    def flush(self, conn: Connection) -> None:
        """Send the answer; once it is out, close or go on to the next request."""
        if not self.send_some(conn):
            self.close(conn)
            return
        if conn.outbuf:
            self.watch(conn, selectors.EVENT_WRITE)
            return
        if conn.after_write == "close" and not conn.unread_in_kernel():
            self.close(conn)
        elif conn.after_write != "keep":
            self.start_graceful_close(conn)
        else:
            now = time.monotonic()
            if conn.inbuf:
                conn.state, conn.deadline = HEAD, now + HEAD_TIMEOUT
                # A pipelined request: served on the next turn, after the other clients.
                self.watch(conn, 0)
                self.ready.append(conn)
            else:
                conn.state, conn.deadline = IDLE, now + self.cfg.keepalive
                if conn.eof:
                    self.close(conn)
                elif conn.tls and conn.sock.pending():
                    self.ready.append(conn)
                else:
                    self.watch(conn, selectors.EVENT_READ)

    def log_socket_error(self, e: OSError) -> None:
        if isinstance(e, ssl.SSLError):
            self.log.debug("TLS error: %s", e)
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
            # On the socket itself, under any TLS layer: the FIN is what matters here.
            socket.socket.shutdown(conn.sock, socket.SHUT_WR)
        except OSError:
            self.close(conn)
            return
        conn.state = CLOSING
        conn.deadline = time.monotonic() + GRACEFUL_CLOSE
        conn.drained = 0
        self.watch(conn, selectors.EVENT_READ)

    def drain_closing(self, conn: Connection) -> None:
        """Discard what a closing connection's client sent; close at its EOF or past a cap."""
        try:
            data = _raw_recv(conn.sock, 65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        conn.drained += len(data)
        if not data or conn.drained >= GRACEFUL_DRAIN_MAX:
            self.close(conn)

    def close(self, conn: Connection) -> None:
        fd = conn.sock.fileno()
        if fd >= 0 and self.connections.pop(fd, None) is not None:
            if conn.events:
                self.poller.unregister(conn.sock)
                conn.events = 0
            self.publish()
        util.close(conn.sock)

    def handle_request(
        self, conn: Connection, req: Any, out: Outbox, early: bool, arrived: float
    ) -> bool:
        """Run the app for `req`, its answer written to `out`; return whether to keep `conn`.

        The same steps as gunicorn's gthread worker, on this thread. `arrived` (when the
        request was read whole, a time.monotonic() value) goes to the app in the environ
        under ARRIVED, so that its deadline counts the wait in front of this worker.
        """
        environ: dict[str, Any] = {}
        resp = None
        now = time.monotonic()
        if now - self.notified > 1.0:
            # A long turn of the loop (a slow database, many requests): still alive.
            self.notify()
            self.notified = now
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(
                req, out, conn.client, conn.server, self.cfg, response_class=BufferedResponse
            )
            environ[ARRIVED] = arrived
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
            if not self.alive or not self.cfg.keepalive or early:
                # Early: the client may still be sending the body the app did not wait for,
                # so the answer says the connection ends with it.
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
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
        except (Exception, SystemExit):
            if resp and resp.headers_sent:
                # The answer has started: a 500 now would corrupt it, so the connection ends.
                self.log.exception("Error handling request")
                return False
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")
        return True


def kernel_arrival(sock: socket.socket, fallback: float) -> float:
    """Return when the connection's data last reached the kernel (monotonic), or `fallback`.

    From TCP_INFO's tcpi_last_data_recv (Linux, millisecond resolution). Never earlier than
    the request's last byte (later data only makes it later); `fallback` where there is no
    TCP_INFO (other systems, a Unix socket).
    """
    if _TCP_INFO is None:
        return fallback
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_SIZE)
    except (OSError, ValueError):
        return fallback
    if len(info) < _LAST_DATA_RECV_OFFSET + _LAST_DATA_RECV.size:
        return fallback
    (milliseconds,) = _LAST_DATA_RECV.unpack_from(info, _LAST_DATA_RECV_OFFSET)
    return time.monotonic() - milliseconds / 1000
