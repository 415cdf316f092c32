"""Rate limits: a token bucket per user (or client address), headers on every /api/ answer, 429.

In-process tests run the real app (webtest) with small limits; the Redis tests use the Redis
on 127.0.0.1:6379 with a key prefix of their own, and a closed port or a listener that never
answers for an outage.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import falcon
import falcon.testing
import jwt
import pytest
import redis
from webtest import TestApp

from service.api.ratelimit import RateLimits, charge_operations
from service.core.config import Config, ConfigError, RateLimit
from service.data.rate_buckets import LocalBuckets, RedisBuckets
from service.server.bootstrap import Runtime, build
from tests.conftest import make_config
from tests.test_metrics import scrape

REDIS_URL = "redis://127.0.0.1:6379/0"
POLICY = re.compile(r'^"default";q=(\d+);w=(\d+)$')
STATE = re.compile(r'^"default";r=(\d+);t=(\d+)$')
SECRET = "rate-limit-secret-" + "z" * 40
MISSING_TASK = "00000000-0000-4000-8000-000000000000"


def running(database_url: str, **settings: str) -> Iterator[TestApp]:
    rt: Runtime = build(make_config(database_url, **settings))
    rt.pool.open(wait=True, timeout=10)
    try:
        yield TestApp(rt.app, extra_environ={"HTTP_HOST": "tasks.test"})
    finally:
        rt.stop()


def state(resp) -> tuple[int, int]:
    """Return (remaining, seconds until full) from a response's RateLimit header."""
    match = STATE.fullmatch(resp.headers["RateLimit"])
    assert match, resp.headers["RateLimit"]
    return int(match.group(1)), int(match.group(2))


def unique_prefix() -> str:
    return f"tasks-test:{uuid.uuid4().hex}:"


def require_redis() -> None:
    """Skip when no Redis answers on 127.0.0.1:6379, except in CI (where it must)."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Redis on 127.0.0.1:6379: {error}")
        pytest.skip(f"no Redis on 127.0.0.1:6379: {error}")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def three_per_second(database_url) -> Iterator[TestApp]:
    yield from running(database_url, RATE_LIMIT="3/second")


@pytest.fixture(scope="module")
def three_per_minute(database_url) -> Iterator[TestApp]:
    # One token every 20 s: no test here runs long enough to see one come back.
    yield from running(database_url, RATE_LIMIT="3/minute")


def exhaust(app: TestApp, path: str) -> None:
    """Send requests until one is refused (the bucket may refill meanwhile on a slow machine)."""
    for _ in range(30):
        if app.get(path, expect_errors=True).status_int == 429:
            return
    pytest.fail("never refused")


@pytest.fixture(scope="module")
def jwt_app(database_url) -> Iterator[TestApp]:
    yield from running(database_url, RATE_LIMIT="3/minute", JWT_SECRET=SECRET)


def token(sub: str) -> dict[str, str]:
    now = int(time.time())
    encoded = jwt.encode({"sub": sub, "iat": now, "exp": now + 300}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {encoded}"}


# --- configuration -----------------------------------------------------------------------


def test_the_default_is_6000_a_minute_without_redis():
    config = Config.from_env({"DATABASE_URL": "postgresql://x/y"}, dotenv_path=None)
    assert config.rate_limit == RateLimit(quota=6000, window_seconds=60)
    assert config.redis_url is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("120/minute", RateLimit(120, 60)),
        ("10/second", RateLimit(10, 1)),
        ("5 / hours", RateLimit(5, 3600)),
        ("1000/day", RateLimit(1000, 86_400)),
        ("0", None),
    ],
)
def test_rate_limit_values(raw, expected):
    config = Config.from_env({"DATABASE_URL": "postgresql://x/y", "RATE_LIMIT": raw}, None)
    assert config.rate_limit == expected


@pytest.mark.parametrize("raw", ["fast", "10", "10/fortnight", "0/second", "-5/minute", "1.5/s"])
def test_a_bad_rate_limit_is_a_one_line_error_naming_the_setting(raw):
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"DATABASE_URL": "postgresql://x/y", "RATE_LIMIT": raw}, None)
    message = str(caught.value)
    assert message.startswith("RATE_LIMIT must be") and "\n" not in message
    assert "120/minute" in message


def test_the_redis_url_stays_out_of_the_configs_repr():
    env = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://:hunter2@127.0.0.1:6379"}
    assert "hunter2" not in repr(Config.from_env(env, None))


# --- headers -----------------------------------------------------------------------------


def _api_answers(app: TestApp, user_id: str):
    yield app.get(f"/api/{user_id}/tasks")
    created = app.post_json(f"/api/{user_id}/tasks", {"title": "limited"}, status=201)
    yield created
    yield app.get(f"/api/{user_id}/tasks/{created.json['id']}")
    yield app.get(f"/api/{user_id}/tasks/{MISSING_TASK}", status=404)
    yield app.get(f"/api/{user_id}/tasks/not-a-uuid", status=422)
    yield app.get("/api/bad user/tasks", status=422)
    yield app.post_json(f"/api/{user_id}/tasks", {"title": ""}, status=422)
    yield app.post(f"/api/{user_id}/tasks", "{", content_type="application/json", status=400)
    yield app.get("/api/no/such/route", status=404)
    yield app.put(f"/api/{user_id}/stats", status=405)
    yield app.get(f"/api/{user_id}/stats")
    yield app.options(
        f"/api/{user_id}/tasks",
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
    )


def test_every_api_answer_carries_the_policy_and_the_state(app, user_id):
    for resp in _api_answers(app, user_id):
        assert POLICY.fullmatch(resp.headers["RateLimit-Policy"]), resp
        assert resp.headers["RateLimit-Policy"] == '"default";q=6000;w=60'
        remaining, reset = state(resp)
        assert 0 < remaining < 6000 and 1 <= reset <= 60, resp


def test_the_state_counts_down_per_request(three_per_minute, user_id):
    path = f"/api/{user_id}/tasks"
    seen = [state(three_per_minute.get(path)) for _ in range(3)]
    # r: tokens left; t: whole seconds until full (20 s a token).
    assert [remaining for remaining, _ in seen] == [2, 1, 0]
    assert [reset for _, reset in seen] == [20, 40, 60]


@pytest.mark.parametrize("path", ["/health", "/livez", "/readyz", "/metrics", "/openapi.json"])
def test_health_docs_and_metrics_are_not_limited(three_per_second, path):
    for _ in range(6):
        resp = three_per_second.get(path)
        assert "RateLimit" not in resp.headers and "RateLimit-Policy" not in resp.headers


def test_cors_exposes_the_rate_limit_headers(app, user_id):
    resp = app.get(f"/api/{user_id}/tasks", headers={"Origin": "https://a.example"})
    exposed = {h.strip() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"RateLimit", "RateLimit-Policy", "Retry-After"} <= exposed


def test_rate_limit_0_turns_it_off(database_url, user_id):
    for app in running(database_url, RATE_LIMIT="0"):
        for _ in range(10):
            resp = app.get(f"/api/{user_id}/tasks")
            assert "RateLimit" not in resp.headers and "RateLimit-Policy" not in resp.headers


# --- the limit ---------------------------------------------------------------------------


def test_past_the_limit_a_429_problem_with_retry_after(three_per_minute, user_id):
    path = f"/api/{user_id}/tasks"
    for _ in range(3):
        three_per_minute.get(path)
    resp = three_per_minute.get(path, headers={"X-Request-ID": "limited-1"}, status=429)
    assert resp.content_type == "application/problem+json"
    assert resp.json["status"] == 429 and resp.json["title"] == "Too Many Requests"
    assert resp.json["request_id"] == "limited-1" and resp.json["detail"]
    assert re.fullmatch(r"[1-9]\d*", resp.headers["Retry-After"])
    assert 18 <= int(resp.headers["Retry-After"]) <= 20
    assert resp.headers["RateLimit-Policy"] == '"default";q=3;w=60'
    remaining, reset = state(resp)
    assert remaining == 0 and 58 <= reset <= 60


def test_a_refused_request_does_nothing(three_per_minute, user_id, db):
    path = f"/api/{user_id}/tasks"
    for _ in range(3):
        three_per_minute.get(path)
    three_per_minute.post_json(path, {"title": "refused"}, status=429)
    assert (
        db.execute("SELECT count(*) AS n FROM tasks WHERE user_id = %s", (user_id,)).fetchone()["n"]
        == 0
    )


def test_tokens_come_back_over_time(three_per_second, user_id):
    path = f"/api/{user_id}/tasks"
    exhaust(three_per_second, path)
    # One token every 1/3 s: 0.4 s later one request passes, the next one right after not.
    time.sleep(0.4)
    assert state(three_per_second.get(path))[0] == 0
    three_per_second.get(path, status=429)
    # A whole window later the bucket is full again.
    time.sleep(1.05)
    assert state(three_per_second.get(path)) == (2, 1)


def test_users_have_buckets_of_their_own(three_per_minute, user_id, other_user):
    for _ in range(3):
        three_per_minute.get(f"/api/{user_id}/tasks")
    three_per_minute.get(f"/api/{user_id}/tasks", status=429)
    assert state(three_per_minute.get(f"/api/{other_user}/tasks"))[0] == 2


def test_requests_without_a_user_are_limited_by_client_address(three_per_minute):
    first = {"REMOTE_ADDR": "192.0.2.10"}
    for _ in range(3):
        three_per_minute.get("/api/no/such/route", extra_environ=first, status=404)
    resp = three_per_minute.get("/api/no/such/route", extra_environ=first, status=429)
    assert resp.content_type == "application/problem+json"
    other = {"REMOTE_ADDR": "192.0.2.11"}
    three_per_minute.get("/api/no/such/route", extra_environ=other, status=404)


# --- authentication ------------------------------------------------------------------------


def test_failed_authentication_is_limited_per_client_address(jwt_app, user_id):
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    bad = {"Authorization": "Bearer not.a.token"}
    path = f"/api/{user_id}/tasks"
    seen = []
    for _ in range(3):
        resp = jwt_app.get(path, headers=bad, extra_environ=attacker, status=401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        seen.append(state(resp)[0])
    assert seen == [2, 1, 0]
    refused = jwt_app.get(path, headers=bad, extra_environ=attacker, status=429)
    assert "WWW-Authenticate" not in refused.headers
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json["status"] == 429
    # Neither the user named in the path nor another address paid for it.
    assert state(jwt_app.get(path, headers=token(user_id), extra_environ=attacker))[0] == 2
    jwt_app.get(path, headers=bad, extra_environ={"REMOTE_ADDR": "198.51.100.8"}, status=401)


def test_with_jwt_an_authenticated_user_is_limited_per_user(jwt_app, user_id, other_user):
    where = {"REMOTE_ADDR": "198.51.100.20"}
    for _ in range(3):
        jwt_app.get(f"/api/{user_id}/tasks", headers=token(user_id), extra_environ=where)
    resp = jwt_app.get(
        f"/api/{user_id}/tasks", headers=token(user_id), extra_environ=where, status=429
    )
    assert state(resp)[0] == 0
    # Same address, another user: a bucket of its own.
    jwt_app.get(f"/api/{other_user}/tasks", headers=token(other_user), extra_environ=where)


@pytest.fixture
def behind_proxy(database_url) -> Iterator[TestApp]:
    yield from running(database_url, RATE_LIMIT="2/minute", TRUST_FORWARDED_HEADERS="true")


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_saw(behind_proxy):
    def via(client: str, forged: str = "203.0.113.99", status: int = 404):
        return behind_proxy.get(
            "/api/no/such/route",
            headers={"X-Forwarded-For": f"{forged}, {client}"},
            extra_environ={"REMOTE_ADDR": "10.0.0.5"},
            status=status,
        )

    via("203.0.113.1", forged="1.1.1.1")
    via("203.0.113.1", forged="2.2.2.2")
    # A forged first entry does not make a new client.
    via("203.0.113.1", forged="3.3.3.3", status=429)
    via("203.0.113.2")


# --- buckets -------------------------------------------------------------------------------


def test_a_batch_is_charged_one_token_per_operation():
    limiter = RateLimits(LocalBuckets(RateLimit(10, 60)), jwt_enabled=False, trust_forwarded=False)

    class Batch:
        def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
            charge_operations(req, req.get_media()["operations"])
            resp.media = {"ok": True}

    app = falcon.App(middleware=[limiter])
    app.add_route("/api/{user_id}/batch", Batch())
    client = falcon.testing.TestClient(app)
    first = client.simulate_post("/api/u1/batch", json={"operations": 4})
    assert first.status_code == 200 and first.headers["RateLimit"] == '"default";r=6;t=24'
    second = client.simulate_post("/api/u1/batch", json={"operations": 7})
    assert second.status_code == 429 and second.headers["Retry-After"] == "6"
    # 1 token on arrival, then 6 more refused: 5 left.
    assert second.headers["RateLimit"].startswith('"default";r=5;')
    assert client.simulate_post("/api/u1/batch", json={"operations": 5}).status_code == 200
    assert client.simulate_post("/api/u1/batch", json={"operations": 1}).status_code == 429


def test_a_request_costing_more_than_the_quota_takes_the_whole_bucket():
    buckets = LocalBuckets(RateLimit(5, 1))
    assert buckets.take("k", 50) == (True, 0, 1, 0)
    refused = buckets.take("k", 1)
    assert not refused.allowed and refused.retry_after == 1


def test_full_buckets_are_forgotten_so_memory_stays_bounded():
    buckets = LocalBuckets(RateLimit(1000, 1))
    for n in range(5000):
        buckets.take(f"user-{n}")
    time.sleep(1.05)
    for n in range(5000):
        buckets.take(f"later-{n}")
    # The first 5000 were full again when the sweep ran.
    assert len(buckets) < 8192
    assert buckets.take("user-1").remaining == 999


# --- Redis ---------------------------------------------------------------------------------


def redis_buckets(limit: RateLimit, prefix: str, url: str = REDIS_URL, **kw) -> RedisBuckets:
    return RedisBuckets(limit, url, prefix, kw.get("timeout", 0.1), kw.get("retry", 1.0))


def test_redis_buckets_are_shared_between_processes():
    require_redis()
    prefix = unique_prefix()
    # Two clients stand for two workers: each has its own connections and local state.
    one = redis_buckets(RateLimit(3, 60), prefix)
    two = redis_buckets(RateLimit(3, 60), prefix)
    try:
        assert one.take("u:a") == (True, 2, 20, 0)
        assert two.take("u:a") == (True, 1, 40, 0)
        assert one.take("u:a") == (True, 0, 60, 0)
        refused = two.take("u:a")
        assert not refused.allowed and refused.remaining == 0
        assert 19 <= refused.retry_after <= 20
        assert two.take("u:b") == (True, 2, 20, 0)
        # The key lives until the bucket is full again, and no longer.
        assert 58_000 < redis.Redis.from_url(REDIS_URL).pttl(prefix + "u:a") <= 60_000
    finally:
        one.close()
        two.close()
    assert len(one.local) == 0 and len(two.local) == 0


def test_a_redis_bucket_refills_and_its_key_expires_when_full():
    require_redis()
    prefix = unique_prefix()
    buckets = redis_buckets(RateLimit(3, 1), prefix)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for _ in range(30):
            if not buckets.take("u:a").allowed:
                break
        else:
            pytest.fail("never refused")
        assert 0 < client.pttl(prefix + "u:a") <= 1000
        time.sleep(1.05)
        assert client.exists(prefix + "u:a") == 0
        assert buckets.take("u:a") == (True, 2, 1, 0)
    finally:
        buckets.close()


def test_the_api_limits_through_redis(database_url, user_id):
    require_redis()
    prefix = unique_prefix()
    settings = {"RATE_LIMIT": "2/minute", "REDIS_URL": REDIS_URL, "RATE_LIMIT_REDIS_PREFIX": prefix}
    apps = [running(database_url, **settings), running(database_url, **settings)]
    first, second = (next(app) for app in apps)
    try:
        first.get(f"/api/{user_id}/tasks")
        assert state(second.get(f"/api/{user_id}/tasks"))[0] == 0
        first.get(f"/api/{user_id}/tasks", status=429)
        assert redis.Redis.from_url(REDIS_URL).exists(prefix + "u:" + user_id) == 1
    finally:
        for app in apps:
            app.close()


def _redis_counters(app: TestApp) -> tuple[float, float, float]:
    samples = scrape(app)
    return (
        samples.get(
            ("tasks_rate_limit_redis_errors_total", frozenset({("kind", "unavailable")})), 0
        ),
        samples.get(("tasks_rate_limit_redis_errors_total", frozenset({("kind", "timeout")})), 0),
        samples.get(
            (
                "tasks_rate_limit_fallback_decisions_total",
                frozenset({("reason", "redis_unavailable")}),
            ),
            0,
        ),
    )


def test_redis_down_fails_open_and_is_counted(database_url, user_id, caplog):
    url = f"redis://127.0.0.1:{closed_port()}/0"
    # The breaker stays open for the whole test: one failed call, then local decisions.
    settings = {"REDIS_URL": url, "RATE_LIMIT": "4/hour", "RATE_LIMIT_REDIS_RETRY_MS": "60000"}
    for app in running(database_url, **settings):
        unavailable, _, fallbacks = _redis_counters(app)
        with caplog.at_level("WARNING", logger="service.data.rate_buckets"):
            for _ in range(3):
                resp = app.get(f"/api/{user_id}/tasks", status=200)
                assert STATE.fullmatch(resp.headers["RateLimit"])
            created = app.post_json(f"/api/{user_id}/tasks", {"title": "still served"})
            assert created.status_int == 201
        after = _redis_counters(app)
        assert after[0] == unavailable + 1
        assert after[2] == fallbacks + 4
        warnings = [r for r in caplog.records if "Redis" in r.getMessage()]
        assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
        # Meanwhile the process's own buckets still limit.
        app.get(f"/api/{user_id}/tasks", status=429)


def test_every_failed_redis_call_is_counted_and_logged_once(database_url, user_id, caplog):
    url = f"redis://127.0.0.1:{closed_port()}/0"
    # No breaker: every request asks Redis, and every refusal is counted.
    for app in running(database_url, REDIS_URL=url, RATE_LIMIT_REDIS_RETRY_MS="0"):
        unavailable, _, _ = _redis_counters(app)
        with caplog.at_level("WARNING", logger="service.data.rate_buckets"):
            for _ in range(5):
                app.get(f"/api/{user_id}/tasks", status=200)
        assert _redis_counters(app)[0] == unavailable + 5
        assert len([r for r in caplog.records if "Redis" in r.getMessage()]) == 1


def test_a_hung_redis_costs_one_short_timeout_then_is_skipped(database_url, user_id):
    # A listener that accepts connections (the kernel does) and never answers.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        for app in running(database_url, REDIS_URL=url, RATE_LIMIT_REDIS_TIMEOUT_MS="100"):
            _, timeouts, _ = _redis_counters(app)
            started = time.monotonic()
            for _ in range(5):
                app.get(f"/api/{user_id}/tasks", status=200)
            elapsed = time.monotonic() - started
            # One 100 ms timeout, then the breaker: no stall (redis-py waits 5 s by default).
            assert elapsed < 2.0, elapsed
            assert _redis_counters(app)[1] == timeouts + 1


class RedisRelay:
    """A loopback TCP relay to the test Redis that can be cut and restored: an outage."""

    def __init__(self) -> None:
        self.port = closed_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def up(self) -> None:
        """Listen on the relay's port and pass every connection through to Redis."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(8)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Stop listening and cut every relayed connection (new ones are refused)."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the
            # port listening until that call returns.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", 6379))
            self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)


def test_a_redis_that_comes_back_is_shared_again(caplog):
    require_redis()
    prefix = unique_prefix()
    relay = RedisRelay()
    relay.up()
    # A short breaker (0.2 s), so that the test need not wait a second.
    url = f"redis://127.0.0.1:{relay.port}/0"
    buckets = redis_buckets(RateLimit(3, 60), prefix, url=url, retry=0.2)
    shared = redis.Redis.from_url(REDIS_URL)
    try:
        with caplog.at_level("WARNING", logger="service.data.rate_buckets"):
            assert buckets.take("u:a") == (True, 2, 20, 0)
            assert shared.exists(prefix + "u:a") == 1
            relay.down()
            # Redis unreachable: the process decides alone, from a bucket of its own.
            assert buckets.take("u:a") == (True, 2, 20, 0)
            assert len(buckets.local) == 1
            relay.up()
            time.sleep(0.3)
            # Back to the shared bucket, where one token was taken before the outage.
            assert buckets.take("u:a") == (True, 1, 40, 0)
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2
        assert "Redis unavailable" in messages[0] and "answers again" in messages[1]
    finally:
        buckets.close()
        relay.down()


def test_with_jwt_preflights_are_charged_to_the_address_not_the_user_in_the_path(jwt_app, user_id):
    where = {"REMOTE_ADDR": "198.51.100.30"}
    preflight = {"Origin": "https://a.example", "Access-Control-Request-Method": "GET"}
    for _ in range(3):
        jwt_app.options(f"/api/{user_id}/tasks", headers=preflight, extra_environ=where)
    jwt_app.options(f"/api/{user_id}/tasks", headers=preflight, extra_environ=where, status=429)
    # The user named in those paths still has a full bucket.
    resp = jwt_app.get(f"/api/{user_id}/tasks", headers=token(user_id), extra_environ=where)
    assert state(resp)[0] == 2
