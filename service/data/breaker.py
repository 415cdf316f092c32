"""A circuit breaker on the database: fail fast while it is known to be down or frozen.

The request deadline (service/data/deadline.py) bounds each request, but while the database does
not answer every request would spend its whole budget (or the pool's timeout) finding that
out, and requests queued behind a busy worker (one thread per sync worker) would wait for
all of those before theirs: far past the contract's 5 s. So the first failure that shows the
database unavailable (a use cut at its deadline, no connection within the pool's timeout, or
a second lost connection in a row) opens the breaker: for `open_seconds` every database use
in this process fails at once with `BreakerOpen` (a 503 with Retry-After). Then one use is
let through as a probe, with a short budget of its own (`probe_seconds`): if the database
answers the breaker closes, otherwise it opens again. Any use that ends well closes it too.

Per process (each gunicorn worker has its own pool and its own view of the database), so no
shared state; thread-safe within the process. On the normal path a use costs one attribute
read (`clear`) on the way in and one on the way out.

Slow is not up: a statement cut by the server's statement_timeout (or lock_timeout), or a
use cut at a deadline that left it little time from the start (see `GuardedPool`), shows
the database answering too slowly rather than not at all. One such failure costs its
request only (one expensive statement should not shed everyone), but `slow_threshold` of
them within `slow_window` seconds open the breaker too, successes in between or not: on a
one-thread worker every request queued behind a statement that waits out its timeout waits
as long, so two of them already spend most of the contract's 5 s (docs, failure handling).
The window is not cleared when the breaker closes again, so while the database stays slow
(a table lock held) the first slow failure after a probe opens it again at once.

Not failures: a constraint violation or any other error the server answered with, and a
request shed because it had already waited past its deadline (`deadline.DeadlinePassed`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from time import monotonic

import psycopg
from prometheus_client import Counter, Gauge
from psycopg_pool import PoolClosed, PoolTimeout

from service.core.metrics import REGISTRY
from service.data.deadline import DeadlineExceeded, DeadlinePassed

logger = logging.getLogger("service.data.breaker")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

# Connection exceptions (class 08) and the server going away (57P01 admin shutdown, 57P02
# crash shutdown, 57P03 cannot connect now). 57014, a cancelled statement, is not one.
_LOST_SQLSTATE_PREFIXES = ("08", "57P")
# The server gave up on a statement that ran or waited too long: statement_timeout (57014,
# query_canceled) or lock_timeout (55P03, lock_not_available).
_SLOW_SQLSTATES = frozenset({"57014", "55P03"})

BREAKER_OPEN = Gauge(
    "tasks_db_breaker_open",
    "Worker processes whose database circuit breaker is open or half-open (failing fast).",
    ["pool"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
BREAKER_OPENED = Counter(
    "tasks_db_breaker_opened",
    "Times a worker's database circuit breaker opened.",
    ["pool"],
    registry=REGISTRY,
)
BREAKER_REJECTED = Counter(
    "tasks_db_breaker_rejected",
    "Database uses refused at once (a 503) because the circuit breaker was open.",
    ["pool"],
    registry=REGISTRY,
)


class BreakerOpen(psycopg.OperationalError):
    """The database is known to be unavailable: this use failed fast, without trying it."""


def unavailability(error: BaseException) -> str | None:
    """Classify a failed database use: 'unanswered', 'lost', 'slow', or None.

    'unanswered': the use ran out of time without an answer (cut at its deadline, or no
    connection within the pool's timeout). 'lost': the connection broke or was refused.
    'slow': the server cancelled the statement at its statement_timeout or lock_timeout.
    None: the server answered (a constraint, a syntax error...), or the use never reached it.
    """
    if isinstance(error, DeadlineExceeded | PoolTimeout):
        return "unanswered"
    if isinstance(error, BreakerOpen | PoolClosed | DeadlinePassed):
        return None
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        sqlstate = error.sqlstate
        if sqlstate is None or sqlstate.startswith(_LOST_SQLSTATE_PREFIXES):
            return "lost"
        if sqlstate in _SLOW_SQLSTATES:
            return "slow"
    return None


class CircuitBreaker:
    """Fail database uses fast while the database is known unavailable; see the module doc.

    Closed (uses go through), open for `open_seconds` (uses fail at once), then half-open
    (one use probes; the others still fail at once).

    `open_seconds` 0 disables it. `lost_threshold` lost connections in a row open it (one
    connection broken by itself, say killed by an administrator, costs one request only);
    a use that ran out of time opens it at once; `slow_threshold` slow failures within
    `slow_window` seconds open it (see the module doc).
    """

    def __init__(
        self,
        open_seconds: float,
        probe_seconds: float = 1.0,
        *,
        lost_threshold: int = 2,
        slow_threshold: int = 2,
        slow_window: float = 10.0,
        name: str = "tasks",
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.open_seconds = open_seconds
        self.probe_seconds = probe_seconds
        self.lost_threshold = lost_threshold
        self.slow_threshold = slow_threshold
        self.slow_window = slow_window
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._lost = 0  # lost connections in a row
        self._slow: deque[float] = deque(maxlen=max(1, slow_threshold))  # when, lately
        self._reopen_at = 0.0
        # True while closed with nothing to forget: the one read on the normal path.
        self.clear = True
        self._gauge = BREAKER_OPEN.labels(name)
        self._opened = BREAKER_OPENED.labels(name)
        self._rejected = BREAKER_REJECTED.labels(name)

    @property
    def state(self) -> str:
        """Return closed, open or half_open."""
        return self._state

    def admit(self) -> bool:
        """Let a use through, returning True if it is to probe; raise BreakerOpen if not."""
        with self._lock:
            if self._state == CLOSED:
                return False
            if self._state == OPEN and self._clock() >= self._reopen_at:
                self._state = HALF_OPEN
                return True
        self._rejected.inc()
        raise BreakerOpen("the database is unavailable (circuit breaker open)")

    def failed(self, error: BaseException, truncated: bool = False) -> None:
        """Record a failed use; open the breaker if the failure shows the database unavailable.

        `truncated`: the use began with little of its request's budget left (the request had
        queued, or spent its time on earlier statements); cut at its deadline, it counts as
        slow, not as unanswered.
        """
        kind = unavailability(error)
        if kind is None or not self.open_seconds:
            return
        if kind == "unanswered" and truncated:
            kind = "slow"
        with self._lock:
            if kind == "slow":
                now = self._clock()
                recent = self._slow
                recent.append(now)
                if self._state == CLOSED and (
                    len(recent) < self.slow_threshold or now - recent[0] > self.slow_window
                ):
                    return
            elif kind == "lost" and self._state == CLOSED:
                self._lost += 1
                self.clear = False
                if self._lost < self.lost_threshold:
                    return
            self._open(f"{type(error).__name__}: {error}")

    def probe_failed(self, error: BaseException) -> None:
        """Open the breaker again: the probe found no working database."""
        with self._lock:
            self._open(f"probe failed: {type(error).__name__}: {error}")

    def succeeded(self) -> None:
        """Record a use that ended well (or a probe that got an answer): close the breaker."""
        with self._lock:
            was = self._state
            self._state = CLOSED
            self._lost = 0
            self.clear = True
        if was != CLOSED:
            self._gauge.set(0)
            logger.info("database answers again: circuit breaker closed")

    def _open(self, reason: str) -> None:
        # Called with the lock held.
        was = self._state
        self._state = OPEN
        self._lost = 0
        self._reopen_at = self._clock() + self.open_seconds
        self.clear = False
        if was == CLOSED:
            self._gauge.set(1)
            self._opened.inc()
            logger.warning(
                "database unavailable (%s): failing fast for %.1f s", reason, self.open_seconds
            )
