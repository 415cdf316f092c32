"""The worker's purges and its loop, against the real database; the retry schedule's rule."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from service.data.outbox import Outbox
from service.data.pool import create_pool
from service.data.queries import Queries
from service.domain.webhooks import RETRY_WINDOW, next_attempt, retry_delay
from service.jobs.purge_events import PurgeEvents
from service.jobs.purge_idempotency_keys import PurgeIdempotencyKeys
from service.worker import BACKOFF_MAX, Schedule, Worker
from tests.conftest import make_config
from tests.webhook_receiver import quiet_webhooks  # noqa: F401 - an autouse fixture

QUERIES = Queries.load()


@pytest.fixture(scope="module")
def pool(database_url):
    pool = create_pool(make_config(database_url, POOL_MIN_SIZE="0"), QUERIES)
    pool.open(wait=True, timeout=10)
    yield pool
    pool.close()


def store_key(db, user_id: str, key: str, age: timedelta) -> None:
    db.execute(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, status, created_at) "
        "VALUES (%s, %s, %s, 200, now() - %s)",
        (user_id, key, b"\0" * 32, age),
    )


def keys(db, user_id: str) -> set[str]:
    rows = db.execute("SELECT key FROM idempotency_keys WHERE user_id = %s", (user_id,))
    return {r["key"] for r in rows}


def test_the_idempotency_purge_removes_expired_keys_only(pool, db, user_id, other_user):
    for user in (user_id, other_user):
        store_key(db, user, "old", timedelta(hours=25))
        store_key(db, user, "fresh", timedelta(hours=23))
    job = PurgeIdempotencyKeys(pool, QUERIES)
    stopping = threading.Event()
    while job.run_once(stopping):
        pass
    assert keys(db, user_id) == {"fresh"} and keys(db, other_user) == {"fresh"}


def test_the_idempotency_purge_skips_a_locked_row_instead_of_waiting(
    pool, database_url, db, user_id
):
    store_key(db, user_id, "held", timedelta(hours=30))
    store_key(db, user_id, "free", timedelta(hours=30))
    job = PurgeIdempotencyKeys(pool, QUERIES)
    with psycopg.connect(database_url) as holder:
        holder.execute(
            "SELECT 1 FROM idempotency_keys WHERE user_id = %s AND key = 'held' FOR UPDATE",
            (user_id,),
        )
        done = threading.Event()
        thread = threading.Thread(target=lambda: (job.run_once(threading.Event()), done.set()))
        thread.start()
        assert done.wait(5), "the purge waited for a locked row"
        thread.join()
        assert keys(db, user_id) == {"held"}
        holder.rollback()
    job.run_once(threading.Event())
    assert keys(db, user_id) == set()


def test_the_event_purge_keeps_recent_and_pending_events(pool, db, user_id):
    db.execute(
        "INSERT INTO webhooks (user_id, url, events, secret) VALUES (%s, %s, %s, %s)",
        (user_id, "https://127.0.0.1:9/", ["task.created"], "whsec_" + "QUFB" * 11),
    )
    outbox = Outbox(pool, QUERIES)
    old_done, old_pending, recent = (outbox.emit(user_id, "task.created", {}) for _ in range(3))
    db.execute(
        "UPDATE events SET occurred_at = now() - interval '8 days' WHERE id = ANY(%s::uuid[])",
        ([old_done, old_pending],),
    )
    db.execute(
        "UPDATE webhook_deliveries SET status = 'succeeded', next_attempt_at = NULL "
        "WHERE event_id = ANY(%s::uuid[])",
        ([old_done, recent],),
    )
    job = PurgeEvents(pool, QUERIES)
    assert job.run_once(threading.Event()) >= 1
    left = {
        str(r["id"]) for r in db.execute("SELECT id FROM events WHERE user_id = %s", (user_id,))
    }
    assert left == {old_pending, recent}
    deliveries = db.execute(
        "SELECT count(*) AS n FROM webhook_deliveries WHERE event_id = %s", (old_done,)
    ).fetchone()
    assert deliveries["n"] == 0
    # The pending one must not reach the other modules' delivery jobs.
    db.execute("UPDATE webhooks SET enabled = false WHERE user_id = %s", (user_id,))


def test_retry_delays_follow_the_contract_within_jitter():
    bases = [5, 300, 1800, 7200, 18000, 36000, 36000, 36000]
    for attempt, base in enumerate(bases, start=1):
        assert retry_delay(attempt, lambda: 0.0) == pytest.approx(base * 0.8)
        assert retry_delay(attempt, lambda: 1.0) == pytest.approx(base * 1.2)
        assert retry_delay(attempt, lambda: 0.5) == pytest.approx(base)
    rng = random.Random(7)
    samples = [retry_delay(1, rng.random) for _ in range(1000)]
    assert 4.0 <= min(samples) < 4.2 and 5.8 < max(samples) <= 6.0


def test_retries_stop_after_three_days():
    first = datetime(2026, 1, 1, tzinfo=UTC)
    now, attempt, attempts = first, 0, []
    while True:
        attempt += 1
        nxt = next_attempt(attempt, first, now, lambda: 0.5)
        if nxt is None:
            break
        attempts.append(nxt)
        now = nxt
    assert attempts[-1] - first <= RETRY_WINDOW
    assert now + timedelta(hours=10) - first > RETRY_WINDOW
    # 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then every 10 h until 3 days: 11 retries.
    assert len(attempts) == 11


class FlakyJob:
    name = "flaky"
    interval = 0.05

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.stopped = False

    def run_once(self, stopping):
        self.calls += 1
        if self.calls <= self.failures:
            raise psycopg.OperationalError("connection refused")
        return 0

    def stop(self):
        self.stopped = True


def test_a_failing_job_backs_off_and_the_loop_keeps_running():
    job = FlakyJob(failures=3)
    worker = Worker(pool=None, jobs=[job], gauges=None)  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = datetime.now() + timedelta(seconds=10)
        while job.calls < 5 and datetime.now() < deadline:
            threading.Event().wait(0.05)
    finally:
        worker.stop()
        thread.join(5)
    assert job.calls >= 5 and job.stopped and not thread.is_alive()


def test_backoff_doubles_up_to_thirty_seconds():
    schedule = Schedule(FlakyJob(0))
    waits = [schedule.failed(0.0) for _ in range(10)]
    assert 0.4 <= waits[0] <= 0.6 and 0.8 <= waits[1] <= 1.2
    assert max(waits) <= BACKOFF_MAX * 1.2 and waits[-1] >= BACKOFF_MAX * 0.8
    schedule.succeeded(0, 100.0)
    assert schedule.failures == 0 and schedule.due == pytest.approx(100.05)
