"""Client-side deadlines on database work, so a frozen database still gets a 503 in time.

`statement_timeout` is enforced by the server, so it cannot fire when the server (or the
network to it) stops answering altogether: the TCP connection stays up and the worker
thread blocks in recv() for ever. Each request therefore gets a deadline when it arrives
(`RequestDeadline`), and one `Watchdog` thread per pool watches the connections in use:
past its deadline a connection's socket is shut down, the blocked call returns at once with
an error (`DeadlineExceeded`, a psycopg OperationalError, hence a 503), and the pool
replaces the connection.

The deadline counts from the request's arrival: the instant the server read it, when the
gunicorn worker records one in the WSGI environ under `ARRIVED` (a `time.monotonic()` value
of this process), else the instant the app first sees the request. A request that waited in
front of a busy worker until its deadline passed is not sent to the database at all: its
first database use raises `DeadlinePassed` (a 503 with Retry-After) at once, shedding the
queue instead of adding to it.

A thread per pool rather than a `threading.Timer` per use: registering is a dict insert
under a lock (well under a microsecond) where a Timer starts a thread for every request
(see docs/failure-handling.md). The thread sleeps until the earliest
deadline and is idle when nothing is checked out.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import weakref
from contextvars import ContextVar
from time import monotonic

import falcon
import psycopg

logger = logging.getLogger("service.data.deadline")

# The monotonic() instant by which the current request's database work must be over.
_deadline: ContextVar[float | None] = ContextVar("database_deadline", default=None)

# The WSGI environ key under which a worker may record when it read the request: a
# time.monotonic() value of the worker process.
ARRIVED = "tasks.arrived"


class DeadlineExceeded(psycopg.OperationalError):
    """The database did not answer before the deadline; the connection was cut."""


class DeadlinePassed(psycopg.OperationalError):
    """The request's deadline passed before this database use began: shed, never sent."""


def current() -> float | None:
    """Return the deadline in force in this context (a monotonic() instant), if any."""
    return _deadline.get()


def within(seconds: float) -> _Within:
    """Bound the database work in this block to `seconds` from now (or less, if already so).

    `with within(seconds) as deadline:` binds the monotonic() instant in force.
    """
    return _Within(seconds)


class _Within:
    # A class rather than a @contextmanager generator: it runs on every database use, and
    # the generator machinery was two thirds of its cost.
    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def __enter__(self) -> float:
        deadline = monotonic() + self._seconds
        outer = _deadline.get()
        if outer is not None and outer < deadline:
            deadline = outer
        self._token = _deadline.set(deadline)
        return deadline

    def __exit__(self, *exc_info: object) -> None:
        _deadline.reset(self._token)


class RequestDeadline:
    """Falcon middleware: start the request's database budget when the request arrived.

    That is `req.env[ARRIVED]` when the worker recorded it, else now.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        arrived = req.env.get(ARRIVED) or monotonic()
        req.context.deadline_token = _deadline.set(arrived + self._seconds)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        token = getattr(req.context, "deadline_token", None)
        if token is not None:
            _deadline.reset(token)


class _Watch:
    __slots__ = ("conn", "deadline", "severed")

    def __init__(self, conn: psycopg.Connection, deadline: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.severed = False


class _Watching:
    """The context manager `Watchdog.watch` returns (a class: it runs on every database use)."""

    __slots__ = ("_entry", "_watchdog")

    def __init__(self, watchdog: Watchdog, entry: _Watch) -> None:
        self._watchdog = watchdog
        self._entry = entry

    def __enter__(self) -> None:
        self._watchdog._add(self._entry)

    def __exit__(self, exc_type: object, error: BaseException | None, tb: object) -> None:
        entry = self._entry
        self._watchdog._remove(entry)
        if entry.severed:
            if not entry.conn.closed:
                entry.conn.close()
            if isinstance(error, psycopg.Error):
                raise DeadlineExceeded(
                    "the database did not answer in time; connection cut"
                ) from error


class Watchdog:
    """Cut the connections still in use past their deadline; one thread, started on demand."""

    def __init__(self, name: str = "db-watchdog") -> None:
        self._name = name
        self._reset()
        # A forked child inherits neither the thread nor a usable lock state. (A weak
        # reference: fork hooks live as long as the process, pools need not.)
        this = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_if_alive(this))

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._watched: dict[int, _Watch] = {}
        self._next_wake = math.inf
        self._thread: threading.Thread | None = None
        self._generation = 0  # a thread runs while the generation it started with is current

    def watch(self, conn: psycopg.Connection, deadline: float) -> _Watching:
        """Cut `conn` if the block still runs at `deadline` (a monotonic() instant).

        A psycopg error caused by the cut surfaces as `DeadlineExceeded`; a cut connection
        is closed on the way out, so its pool discards it instead of lending it again.
        """
        return _Watching(self, _Watch(conn, deadline))

    def _add(self, entry: _Watch) -> None:
        with self._cond:
            if self._thread is None:
                self._start()
            self._watched[id(entry)] = entry
            if entry.deadline < self._next_wake:
                self._cond.notify()

    def _remove(self, entry: _Watch) -> None:
        with self._cond:
            del self._watched[id(entry)]

    def stop(self) -> None:
        """Stop the thread (it restarts on the next `watch`)."""
        with self._cond:
            thread, self._thread = self._thread, None
            self._generation += 1
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout=1)

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(self._generation,), name=self._name, daemon=True
        )
        self._thread.start()

    def _run(self, generation: int) -> None:
        with self._cond:
            while generation == self._generation:
                now = monotonic()
                next_wake = math.inf
                for entry in self._watched.values():
                    if entry.severed:
                        continue
                    if entry.deadline <= now:
                        _sever(entry)
                    elif entry.deadline < next_wake:
                        next_wake = entry.deadline
                self._next_wake = next_wake
                self._cond.wait(None if next_wake == math.inf else next_wake - now)


def _reset_if_alive(ref: weakref.ref[Watchdog]) -> None:
    watchdog = ref()
    if watchdog is not None:
        watchdog._reset()


def _sever(entry: _Watch) -> None:
    """Shut the connection's socket down, so that a thread blocked on it wakes with an error.

    The socket is shut down, not closed: its descriptor stays valid (libpq still owns it),
    and a shutdown applies to every duplicate of the socket, including libpq's own.
    """
    entry.severed = True
    try:
        dup = socket.socket(fileno=os.dup(entry.conn.pgconn.socket))
    except (OSError, psycopg.Error):
        return  # already closed: nothing is blocked on it
    try:
        dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        dup.close()
    logger.warning("database deadline passed: connection cut")
