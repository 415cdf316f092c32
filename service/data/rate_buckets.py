"""Token buckets for rate limiting: in this process, or shared by every process through Redis.

Both stores run GCRA (the generic cell rate algorithm), the token bucket written as one number
per key: the "theoretical arrival time" (TAT), the moment the bucket will be full again. A
bucket of `quota` tokens refilled at one token every `interval` (window / quota) is full when
TAT <= now; taking n tokens moves TAT to max(TAT, now) + n * interval, which is allowed while
TAT - now stays within quota * interval. Remaining tokens, the time until full and the wait
before a refused request would pass all follow from that one number, and a key whose TAT has
passed is a full bucket, so it can be forgotten (Redis expires it by itself).

`LocalBuckets` keeps the TATs in a dict (per process: with N gunicorn workers a client gets up
to N times the quota); `RedisBuckets` keeps them in Redis through one Lua script, one round
trip per request, using Redis' clock so that instances with skewed clocks agree. When Redis
fails or is slow, `RedisBuckets` falls back to its process-local buckets for a short while
(fail open: a Redis outage never fails a request) and counts and logs it.

Hand-written rather than the `limits` library: `limits` offers fixed-window, moving-window and
sliding-window-counter strategies but no token bucket; what it would add here (a parser and a
storage wrapper) is less than the few lines of GCRA themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import NamedTuple

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.core.config import RateLimit
from service.core.metrics import count_rate_limit_fallback, count_rate_limit_redis_error

logger = logging.getLogger("service.data.rate_buckets")

NANOS = 1_000_000_000
MICROS = 1_000_000
# A Redis failure is logged at most this often per process (every failure is counted).
LOG_EVERY_SECONDS = 60.0
# The local dict is swept of full buckets when it grows past this many keys (and then past
# twice what the sweep left), so that its cost stays amortised O(1) per request.
MIN_SWEEP_SIZE = 4096


class Decision(NamedTuple):
    """The outcome of taking tokens from a bucket."""

    allowed: bool
    # Whole tokens left after this request (0 when refused and nothing is left).
    remaining: int
    # Whole seconds until the bucket is full again (0 when it is full).
    reset_seconds: int
    # Whole seconds before the refused request would pass (0 when allowed).
    retry_after: int


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _decision(values: tuple[bool, int, int, int]) -> Decision:
    # A NamedTuple's own constructor runs Python code; tuple.__new__ is a C call.
    return tuple.__new__(Decision, values)


class LocalBuckets:
    """Token buckets of this process, keyed by any string; thread-safe."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._interval = max(1, limit.window_seconds * NANOS // limit.quota)
        self._capacity = self._interval * limit.quota
        self._tats: dict[str, int] = {}
        lock = threading.Lock()
        self._acquire, self._release = lock.acquire, lock.release
        self._sweep_at = MIN_SWEEP_SIZE

    def take(self, key: str, cost: int = 1) -> Decision:
        """Take `cost` tokens (at most the whole quota) from `key`'s bucket, if it has them."""
        # On every /api/ request: kept to plain arithmetic, one dict lookup and a bare
        # acquire/release (a `with` block costs twice as much on CPython 3.11).
        step = self._interval if cost == 1 else min(cost, self.limit.quota) * self._interval
        now = time.monotonic_ns()
        self._acquire()
        try:
            tat = self._tats.get(key, now)
            if tat < now:
                tat = now
            wait = tat + step - now  # until full, once this request is served
            if wait <= self._capacity:
                self._tats[key] = tat + step
                if len(self._tats) > self._sweep_at:
                    self._sweep(now)
                return _decision(
                    (True, (self._capacity - wait) // self._interval, -(-wait // NANOS), 0)
                )
        finally:
            self._release()
        wait -= step
        return _decision(
            (
                False,
                (self._capacity - wait) // self._interval,
                -(-wait // NANOS),
                max(1, -((self._capacity - wait - step) // NANOS)),
            )
        )

    def __len__(self) -> int:
        return len(self._tats)

    def _sweep(self, now: int) -> None:
        # Called with the lock held. A bucket whose TAT has passed is full: the same as none.
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._sweep_at = max(MIN_SWEEP_SIZE, 2 * len(self._tats))


# KEYS[1]: the bucket; ARGV: interval and capacity in microseconds, cost in tokens.
# Returns {allowed (1/0), microseconds until full, microseconds before a retry would pass}.
# Microseconds since the epoch (~1.8e15) are exact in Lua's doubles (< 2^53); "%.0f" keeps
# every digit where tostring() would round to 14.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + cost * interval
if new_tat - now > capacity then
  return {0, tat - now, new_tat - capacity - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
  math.max(1, math.ceil((new_tat - now) / 1000)))
return {1, new_tat - now, 0}
"""


def _error_kind(error: Exception) -> str:
    if isinstance(error, redis.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, redis.ConnectionError | OSError):
        return "unavailable"
    return "other"


class RedisBuckets:
    """Token buckets shared through Redis, falling back to this process's buckets on failure.

    A failed or slow call (past `timeout_seconds`) is counted, logged (at most once a minute)
    and opens a short breaker: for `retry_seconds` this process decides with its local
    buckets without asking Redis, so a hung Redis costs a request at most one timeout per
    process per `retry_seconds`.
    """

    def __init__(
        self,
        limit: RateLimit,
        url: str,
        prefix: str,
        timeout_seconds: float,
        retry_seconds: float,
    ) -> None:
        self.limit = limit
        self.local = LocalBuckets(limit)
        self._prefix = prefix
        self._retry_seconds = retry_seconds
        interval = max(1, limit.window_seconds * MICROS // limit.quota)
        self._interval = interval
        self._capacity = interval * limit.quota
        self._args = (interval, self._capacity)
        # No retries: a request must not wait for a second attempt; the breaker takes over.
        # redis-py's pool is thread-safe and starts afresh in a forked child.
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self._script = self._client.register_script(GCRA_SCRIPT)
        self._open_until = 0.0
        self._last_logged = -LOG_EVERY_SECONDS
        self._failing = False

    def take(self, key: str, cost: int = 1) -> Decision:
        """Take `cost` tokens (at most the whole quota) from `key`'s shared bucket."""
        if self._open_until and time.monotonic() < self._open_until:
            count_rate_limit_fallback()
            return self.local.take(key, cost)
        cost = min(cost, self.limit.quota)
        try:
            allowed, until_full, retry = self._script(
                keys=[self._prefix + key], args=(*self._args, cost)
            )
        except (redis.RedisError, OSError) as error:
            self._failed(error)
            count_rate_limit_fallback()
            return self.local.take(key, cost)
        if self._failing:
            self._failing = False
            self._open_until = 0.0
            logger.warning("rate limiting: Redis answers again; limits are shared again")
        if allowed:
            return Decision(
                True,
                (self._capacity - until_full) // self._interval,
                _ceil_div(until_full, MICROS),
                0,
            )
        return Decision(
            False,
            max(0, (self._capacity - until_full) // self._interval),
            _ceil_div(until_full, MICROS),
            max(1, _ceil_div(retry, MICROS)),
        )

    def close(self) -> None:
        """Close the connections to Redis."""
        self._client.close()

    def _failed(self, error: Exception) -> None:
        kind = _error_kind(error)
        count_rate_limit_redis_error(kind)
        now = time.monotonic()
        self._failing = True
        self._open_until = now + self._retry_seconds
        if now - self._last_logged >= LOG_EVERY_SECONDS:
            self._last_logged = now
            logger.warning(
                "rate limiting: Redis %s (%s: %s); deciding with this process's own buckets "
                "until it answers again",
                kind,
                type(error).__name__,
                error,
            )
