"""Webhook delivery against a real loopback receiver: signatures, retries, give-up, two workers.

The worker's delivery job runs in this process (its rounds driven by the tests); the
receiver is a real HTTP server on 127.0.0.1; the database is the suite's PostgreSQL.
WEBHOOK_ALLOW_INSECURE is on here, since the only target a test may reach is loopback;
the refusals without it are in tests/test_webhook_ssrf.py.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from standardwebhooks import Webhook
from webtest import TestApp

from service.data.outbox import Outbox
from service.data.pool import create_pool
from service.data.queries import Queries
from service.jobs.deliver_webhooks import DeliverWebhooks
from service.jobs.metrics import DELIVERIES
from service.server.bootstrap import build
from tests.conftest import make_config
from tests.webhook_receiver import quiet_webhooks, receiver, wait_until  # noqa: F401 - an autouse fixture

QUERIES = Queries.load()


@pytest.fixture(scope="module")
def insecure_runtime(database_url):
    runtime = build(make_config(database_url, WEBHOOK_ALLOW_INSECURE="true"))
    runtime.pool.open(wait=True, timeout=10)
    yield runtime
    runtime.stop()


@pytest.fixture(scope="module")
def insecure_app(insecure_runtime):
    return TestApp(insecure_runtime.app, extra_environ={"HTTP_HOST": "tasks.test"})


@pytest.fixture(scope="module")
def outbox(insecure_runtime):
    return Outbox(insecure_runtime.pool, QUERIES)


def make_job(database_url, concurrency=4):
    config = make_config(database_url, WEBHOOK_ALLOW_INSECURE="true", POOL_MIN_SIZE="0")
    pool = create_pool(config, QUERIES)
    pool.open(wait=True, timeout=10)
    job = DeliverWebhooks(pool, QUERIES, concurrency=concurrency, allow_insecure=True)
    return job, pool


@pytest.fixture
def job(database_url):
    job, pool = make_job(database_url)
    yield job
    job.stop()
    pool.close()


def drain(job, until, timeout=15.0):
    """Run delivery rounds until `until()` is true."""
    stopping = threading.Event()

    def step():
        job.run_once(stopping)
        return until()

    return wait_until(step, timeout)


def subscribe(app, user_id, url, events=("task.created",)):
    body = {"url": url, "events": list(events)}
    return app.post_json(f"/api/{user_id}/webhooks", body, status=201).json


def delivery(db, event_id):
    return db.execute(
        "SELECT * FROM webhook_deliveries WHERE event_id = %s", (event_id,)
    ).fetchone()


def test_an_event_is_delivered_signed_per_standard_webhooks(insecure_app, outbox, job, user_id):
    with receiver([204]) as rx:
        hook = subscribe(insecure_app, user_id, rx.url)
        event_id = outbox.emit(user_id, "task.created", {"title": "sign me", "n": 1})
        assert event_id is not None
        drain(job, lambda: rx.requests)
        got = rx.requests[0]
    # Verified the way a receiver does, with the secret shown at creation.
    payload = Webhook(hook["secret"]).verify(got.body, got.headers)
    assert payload["id"] == event_id == got.headers["webhook-id"]
    assert payload["type"] == "task.created" and payload["user_id"] == user_id
    assert payload["data"] == {"title": "sign me", "n": 1}
    assert payload["occurred_at"].endswith("Z")
    assert got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 30
    # A wrong secret or an altered body does not verify.
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(hook["secret"]).verify(got.body.replace(b"sign me", b"signed!"), got.headers)


def test_500_then_200_retries_with_the_same_webhook_id(insecure_app, outbox, job, db, user_id):
    retried_before = DELIVERIES.labels("retried")._value.get()
    with receiver([500, 200]) as rx:
        hook = subscribe(insecure_app, user_id, rx.url)
        event_id = outbox.emit(user_id, "task.created", {"title": "retry me"})
        drain(job, lambda: rx.requests)
        first = wait_until(
            lambda: delivery(db, event_id)["attempted_at"] and delivery(db, event_id)
        )
        assert first["status"] == "pending" and first["attempt"] == 1
        assert first["response_code"] == 500
        # About 5 s later (+-20 %), not at once.
        wait = (first["next_attempt_at"] - first["attempted_at"]).total_seconds()
        assert 4.0 <= wait <= 6.0, wait
        deliveries = insecure_app.get(f"/api/{user_id}/webhooks/{hook['id']}/deliveries").json
        assert deliveries[0]["status"] == "pending" and deliveries[0]["response_code"] == 500
        assert deliveries[0]["next_attempt_at"] is not None
        # The retry fires when it is due; bring it forward rather than wait 5 s here.
        db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE event_id = %s",
            (event_id,),
        )
        drain(job, lambda: len(rx.requests) >= 2)
        ids = [r.headers["webhook-id"] for r in rx.requests]
        bodies = [r.body for r in rx.requests]
    assert ids == [event_id, event_id]
    assert bodies[0] == bodies[1]
    for got in rx.requests:
        Webhook(hook["secret"]).verify(got.body, got.headers)
    done = wait_until(
        lambda: delivery(db, event_id)["status"] == "succeeded" and delivery(db, event_id)
    )
    assert done["attempt"] == 2 and done["response_code"] == 200
    shown = insecure_app.get(f"/api/{user_id}/webhooks/{hook['id']}/deliveries").json
    assert [(d["attempt"], d["status"], d["response_code"]) for d in shown] == [
        (2, "succeeded", 200),
        (1, "pending", 500),
    ]
    assert all(d["event_id"] == event_id and d["type"] == "task.created" for d in shown)
    assert DELIVERIES.labels("retried")._value.get() >= retried_before + 1


def test_a_timeout_counts_as_a_failure(database_url, insecure_app, outbox, db, user_id):
    job, pool = make_job(database_url)
    job._client.timeout = __import__("httpx").Timeout(0.5)
    try:
        with receiver([200], delay=2.0) as rx:
            subscribe(insecure_app, user_id, rx.url)
            event_id = outbox.emit(user_id, "task.created", {})
            drain(job, lambda: rx.requests)
            row = wait_until(
                lambda: delivery(db, event_id)["attempted_at"] and delivery(db, event_id)
            )
        assert row["status"] == "pending" and row["response_code"] is None
        error = db.execute(
            "SELECT error FROM webhook_delivery_attempts WHERE event_id = %s", (event_id,)
        ).fetchone()["error"]
        assert error == "timeout"
    finally:
        job.stop()
        pool.close()


def test_after_three_days_of_failures_the_webhook_is_disabled(
    insecure_app, outbox, job, db, user_id
):
    with receiver([503]) as rx:
        hook = subscribe(insecure_app, user_id, rx.url)
        event_id = outbox.emit(user_id, "task.created", {})
        other_id = outbox.emit(user_id, "task.created", {"second": True})
        # The event is three days old, with six attempts behind it: the next failure is its last.
        db.execute(
            "UPDATE webhook_deliveries SET created_at = now() - interval '3 days', attempt = 6 "
            "WHERE event_id = %s",
            (event_id,),
        )
        db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 hour' "
            "WHERE event_id = %s",
            (other_id,),
        )
        drain(job, lambda: delivery(db, event_id)["status"] != "pending")
    row = delivery(db, event_id)
    assert row["status"] == "failed" and row["next_attempt_at"] is None
    assert row["attempt"] == 7 and row["response_code"] == 503
    path = f"/api/{user_id}/webhooks/{hook['id']}"
    assert insecure_app.get(path).json["enabled"] is False
    # Its other pending deliveries were given up with it.
    assert delivery(db, other_id)["status"] == "failed"
    # While disabled, nothing is recorded for it; PATCH enabled=true turns it back on.
    assert outbox.emit(user_id, "task.created", {}) is None
    insecure_app.patch_json(path, {"enabled": True})
    assert outbox.emit(user_id, "task.created", {}) is not None


def test_nothing_is_written_for_a_user_without_a_subscription(outbox, insecure_app, db, user_id):
    assert outbox.emit(user_id, "task.created", {}) is None
    with receiver() as rx:
        subscribe(insecure_app, user_id, rx.url, events=["task.deleted"])
    assert outbox.emit(user_id, "task.created", {}) is None
    count = db.execute("SELECT count(*) AS n FROM events WHERE user_id = %s", (user_id,))
    assert count.fetchone()["n"] == 0
    assert outbox.emit(user_id, "task.deleted", {}) is not None


def test_each_subscribed_webhook_gets_its_own_delivery(insecure_app, outbox, job, user_id):
    with receiver() as one, receiver() as two:
        first = subscribe(insecure_app, user_id, one.url)
        second = subscribe(insecure_app, user_id, two.url)
        event_id = outbox.emit(user_id, "task.created", {})
        drain(job, lambda: one.requests and two.requests)
    Webhook(first["secret"]).verify(one.requests[0].body, one.requests[0].headers)
    Webhook(second["secret"]).verify(two.requests[0].body, two.requests[0].headers)
    assert one.requests[0].headers["webhook-id"] == two.requests[0].headers["webhook-id"]
    assert one.requests[0].headers["webhook-id"] == event_id


def test_two_workers_never_send_the_same_attempt_twice(database_url, insecure_app, outbox, db):
    users = [f"user-{uuid.uuid4().hex[:12]}" for _ in range(20)]
    first, pool_a = make_job(database_url, concurrency=8)
    second, pool_b = make_job(database_url, concurrency=8)
    stopping = threading.Event()
    try:
        with receiver() as rx:
            for user in users:
                subscribe(insecure_app, user, rx.url)
            events = [outbox.emit(u, "task.created", {"i": i}) for i in range(10) for u in users]
            assert None not in events

            def loop(job):
                while not stopping.is_set():
                    job.run_once(stopping)

            threads = [threading.Thread(target=loop, args=(j,)) for j in (first, second)]
            for thread in threads:
                thread.start()
            try:
                rx.wait_for(len(events), timeout=60)
                wait_until(
                    lambda: (
                        db.execute(
                            "SELECT count(*) AS n FROM webhook_deliveries "
                            "WHERE user_id = ANY(%s) AND status = 'succeeded'",
                            (users,),
                        ).fetchone()["n"]
                        == len(events)
                    ),
                    timeout=30,
                )
            finally:
                stopping.set()
                for thread in threads:
                    thread.join()
            received = Counter(r.headers["webhook-id"] for r in rx.requests)
    finally:
        for job, pool in ((first, pool_a), (second, pool_b)):
            job.stop()
            pool.close()
    duplicates = {event: n for event, n in received.items() if n > 1}
    assert not duplicates
    assert set(received) == set(events)
    attempts = db.execute(
        "SELECT max(attempt) AS m FROM webhook_deliveries WHERE user_id = ANY(%s)", (users,)
    ).fetchone()["m"]
    assert attempts == 1


def test_a_claim_whose_worker_died_is_retried_after_its_lease(
    insecure_app, outbox, job, db, user_id
):
    with receiver() as rx:
        subscribe(insecure_app, user_id, rx.url)
        event_id = outbox.emit(user_id, "task.created", {})
        # A worker claimed it and died before sending: attempt 1 counted, lease running.
        claimed = db.execute(
            "UPDATE webhook_deliveries SET attempt = 1, next_attempt_at = now() + interval '60 s' "
            "WHERE event_id = %s RETURNING attempt",
            (event_id,),
        ).fetchone()
        assert claimed["attempt"] == 1
        job.run_once(threading.Event())  # its lease keeps this worker off it
        assert rx.requests == [] and delivery(db, event_id)["attempt"] == 1
        db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 s' "
            "WHERE event_id = %s",
            (event_id,),
        )
        drain(job, lambda: rx.requests)
    row = wait_until(
        lambda: delivery(db, event_id)["status"] == "succeeded" and delivery(db, event_id)
    )
    assert row["attempt"] == 2


def test_a_late_outcome_of_a_lost_claim_records_nothing(insecure_app, outbox, job, db, user_id):
    with receiver() as rx:
        subscribe(insecure_app, user_id, rx.url)
        event_id = outbox.emit(user_id, "task.created", {})
    row = db.execute(
        "SELECT d.*, e.type, e.occurred_at, e.data, w.url, w.secret, d.webhook_id::text AS wid "
        "FROM webhook_deliveries d JOIN events e ON e.user_id = d.user_id AND e.id = d.event_id "
        "JOIN webhooks w ON w.user_id = d.user_id AND w.id = d.webhook_id WHERE d.event_id = %s",
        (event_id,),
    ).fetchone()
    # Another worker took it over (attempt 2) after this one's lease (attempt 1) ran out.
    db.execute("UPDATE webhook_deliveries SET attempt = 2 WHERE event_id = %s", (event_id,))
    stale = {**row, "attempt": 1, "webhook_id": row["wid"], "event_id": str(event_id)}
    job._record_outcome(stale, {}, datetime.now(UTC), 200, None)
    after = delivery(db, event_id)
    assert after["status"] == "pending" and after["attempt"] == 2


def test_the_body_is_the_event_as_recorded(insecure_app, outbox, job, db, user_id):
    data = {"title": "\u00e9t\u00e9 \U0001f600", "tags": ["a", "b"], "due_at": None}
    with receiver() as rx:
        subscribe(insecure_app, user_id, rx.url)
        event_id = outbox.emit(user_id, "task.created", data)
        drain(job, lambda: rx.requests)
    payload = orjson.loads(rx.requests[0].body)
    stored = db.execute("SELECT occurred_at FROM events WHERE id = %s", (event_id,)).fetchone()
    assert payload["data"] == data
    occurred = datetime.strptime(payload["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert occurred.replace(tzinfo=UTC) - stored["occurred_at"] == timedelta(0)
