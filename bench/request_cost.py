"""Measure what one request costs in-process, and what the metrics and access log add to it.

usage: DATABASE_URL=postgresql://... [REDIS_URL=redis://...] \
       .venv/bin/python bench/request_cost.py [N]

No HTTP and no concurrency: the WSGI app is called directly, N times each, for GET one task
(the hot route). Prints microseconds per call for
  - RequestMetrics alone (process_request + process_response, multiprocess mode, warm labels),
  - the in-process rate limit (RateLimits' two hooks over LocalBuckets, one user, and over
    10,000 users in turn; LocalBuckets.take alone; with REDIS_URL, RedisBuckets.take: one
    round trip to Redis),
  - gunicorn's access log line through service.server.gunicorn_logs.JsonLogger (to /dev/null),
  - a whole GET one through the app (includes the database round trip(s)),
  - the same with POOL_CHECK=false (one round trip fewer),
  - GET one with RATE_LIMIT=0 (rate limiting off) against the default (6000/minute),
so the shares can be read off. Single-threaded figures on a quiet core; compare within a run.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import sys
import tempfile
import timeit
import uuid

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tasks-bench-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

import falcon
import falcon.testing

from service.core.config import Config
from service.core.metrics import RequestMetrics
from service.server.bootstrap import build


def per_call_us(func, number: int) -> float:
    """Return the best of three runs, in microseconds per call."""
    return min(timeit.repeat(func, number=number, repeat=3)) / number * 1e6


def middleware_cost(number: int) -> float:
    """Time RequestMetrics' two hooks on a realistic request and response."""
    middleware = RequestMetrics()
    req = falcon.testing.create_req(path="/api/u1/tasks/00000000-0000-0000-0000-000000000000")
    req.uri_template = "/api/{user_id}/tasks/{task_id}"
    resp = falcon.Response()

    def once() -> None:
        middleware.process_request(req, resp)
        middleware.process_response(req, resp, None, True)

    return per_call_us(once, number)


def rate_limit_cost(number: int, users: int = 1) -> float:
    """Time RateLimits' two hooks (the in-process buckets) on a routed GET of one task."""
    from service.api.ratelimit import RateLimits
    from service.core.config import RateLimit
    from service.data.rate_buckets import LocalBuckets

    # A quota no benchmark run exhausts: every call takes the allowed path, as in the kit.
    limiter = RateLimits(LocalBuckets(RateLimit(10**9, 60)), False, False)
    requests = []
    for n in range(users):
        req = falcon.testing.create_req(
            path=f"/api/u{n}/tasks/00000000-0000-0000-0000-000000000000"
        )
        requests.append((req, {"user_id": f"u{n}", "task_id": "00000000"}))
    resp = falcon.Response()
    state = {"i": 0}

    def once() -> None:
        i = state["i"] = (state["i"] + 1) % users
        req, params = requests[i]
        limiter.process_resource(req, resp, None, params)
        limiter.process_response(req, resp, None, True)

    return per_call_us(once, number)


def bucket_take_cost(number: int) -> float:
    """Time LocalBuckets.take alone (lock, clock, arithmetic, dict)."""
    from service.core.config import RateLimit
    from service.data.rate_buckets import LocalBuckets

    buckets = LocalBuckets(RateLimit(10**9, 60))
    return per_call_us(lambda: buckets.take("u:user-1"), number)


def redis_take_cost(redis_url: str, number: int) -> float:
    """Time RedisBuckets.take: one EVALSHA round trip to Redis (shared buckets)."""
    from service.core.config import RateLimit
    from service.data.rate_buckets import RedisBuckets

    prefix = f"tasks-bench:{uuid.uuid4().hex}:"
    buckets = RedisBuckets(RateLimit(10**9, 60), redis_url, prefix, 0.1, 1.0)
    try:
        assert buckets.take("u:user-1").allowed
        return per_call_us(lambda: buckets.take("u:user-1"), number)
    finally:
        buckets.close()


def access_log_cost(number: int) -> float:
    """Time one structured access line (formatter and handler included, to a memory stream)."""
    import logging

    from gunicorn.config import Config as GunicornConfig

    from service.core.logs import JsonFormatter
    from service.server.gunicorn_logs import JsonLogger

    cfg = GunicornConfig()
    cfg.set("accesslog", "-")
    logger = JsonLogger(cfg)
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    logger.access_log.handlers = [handler]

    class Resp:
        status = "200 OK"
        sent = 420
        headers = (("Content-Type", "application/json"), ("X-Request-ID", "a" * 32))

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/u1/tasks/00000000-0000-0000-0000-000000000000",
        "QUERY_STRING": "",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_USER_AGENT": "wrk",
    }
    import datetime

    elapsed = datetime.timedelta(microseconds=1500)

    def once() -> None:
        logger.access(Resp, None, environ, elapsed)

    return per_call_us(once, number)


def get_one_cost(
    database_url: str, number: int, pool_check: bool, rate_limit: str | None = None
) -> float:
    """Time a whole GET of one task through the WSGI app."""
    env = {"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "POOL_MAX_SIZE": "1"}
    env["POOL_CHECK"] = "true" if pool_check else "false"
    if rate_limit is not None:
        env["RATE_LIMIT"] = rate_limit
    runtime = build(Config.from_env(env, dotenv_path=None))
    runtime.pool.open(wait=True, timeout=10)
    try:
        client = falcon.testing.TestClient(runtime.app)
        user = f"bench-{uuid.uuid4().hex[:8]}"
        created = client.simulate_post(f"/api/{user}/tasks", json={"title": "cost"})
        path = f"/api/{user}/tasks/{created.json['id']}"
        for _ in range(20):  # warm up: prepared statements, label children
            assert client.simulate_get(path).status_code == 200
        return per_call_us(lambda: client.simulate_get(path), number)
    finally:
        runtime.stop()


def main() -> None:
    """Print the figures."""
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(f"RequestMetrics (both hooks):      {middleware_cost(number * 10):8.1f} us")
    print(f"RateLimits (both hooks, 1 user):  {rate_limit_cost(number * 10):8.1f} us")
    print(f"RateLimits (10,000 users):        {rate_limit_cost(number * 10, 10_000):8.1f} us")
    print(f"LocalBuckets.take:                {bucket_take_cost(number * 10):8.1f} us")
    print(f"access log line (JsonLogger):     {access_log_cost(number * 5):8.1f} us")
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        print(f"RedisBuckets.take (REDIS_URL):    {redis_take_cost(redis_url, number):8.1f} us")
    database_url = os.environ.get("DATABASE_URL")
    if database_url:
        for check in (True, False):
            cost = get_one_cost(database_url, number, check)
            print(f"GET one, POOL_CHECK={str(check).lower():<5}         {cost:8.1f} us")
        # Interleaved, so that drift on a shared machine hits both alike.
        for _ in range(2):
            for limit in ("0", "6000/minute"):
                cost = get_one_cost(database_url, number, False, rate_limit=limit)
                print(f"GET one, RATE_LIMIT={limit:<12}  {cost:8.1f} us")


if __name__ == "__main__":
    main()
