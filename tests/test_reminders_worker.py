"""Reminders fired by the real worker against the real database: within 5 s of fire_at,
exactly once with two workers (threads with their own pools, and two `python -m
service.worker` processes), late or missed after downtime, never for a completed task, once
more after a snooze, never after an ack. Each firing is counted by its outbox event
(`reminder.fired`), which the firing writes in its own transaction."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from service.data.pool import create_pool
from service.data.queries import Queries
from service.jobs.deliver_webhooks import DeliverWebhooks
from service.jobs.fire_reminders import FireReminders
from service.worker import Worker
from service.worker import build as build_worker
from tests.conftest import Api, make_config
from tests.test_worker_process import WorkerProcess, metrics_dir  # noqa: F401 - a fixture
from tests.webhook_receiver import (  # noqa: F401 - an autouse fixture
    quiet_webhooks,
    receiver,
    wait_until,
)

QUERIES = Queries.load()


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def soon(seconds: float) -> str:
    return stamp(datetime.now(UTC) + timedelta(seconds=seconds))


def subscribe(db, user_id: str) -> None:
    """Give the user a (disabled-later, never delivered) webhook so firings are recorded."""
    db.execute(
        "INSERT INTO webhooks (user_id, url, events, secret) VALUES (%s, %s, %s, %s)",
        (user_id, "http://127.0.0.1:9/hook", ["reminder.fired"], "whsec_" + "QUFB" * 11),
    )


def firings(db, user_id: str) -> Counter:
    """Count reminder.fired events per (reminder id, fire_at)."""
    rows = db.execute(
        "SELECT data FROM events WHERE user_id = %s AND type = 'reminder.fired'", (user_id,)
    ).fetchall()
    return Counter((r["data"]["reminder"]["id"], r["data"]["reminder"]["fire_at"]) for r in rows)


def state(db, reminder_id: str) -> dict:
    row = db.execute(
        "SELECT state, fire_at, fired_at FROM reminders WHERE id = %s", (reminder_id,)
    ).fetchone()
    assert row is not None
    return row


@contextmanager
def running_workers(database_url: str, count: int = 1) -> Iterator[None]:
    """Run `count` workers (the real loop, FireReminders only), each with its own pool."""
    workers, threads, pools = [], [], []
    for _ in range(count):
        config = make_config(database_url, POOL_MIN_SIZE="1", POOL_MAX_SIZE="3")
        pool = create_pool(config, QUERIES)
        pool.open(wait=True, timeout=10)
        worker = Worker(pool, [FireReminders(pool, QUERIES, interval=0.2)], None)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        workers.append(worker)
        threads.append(thread)
        pools.append(pool)
    try:
        yield
    finally:
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(10)
        for pool in pools:
            pool.close()


@pytest.fixture(autouse=True)
def _disable_test_webhooks(database_url) -> Iterator[None]:
    yield
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE webhooks SET enabled = false WHERE url = 'http://127.0.0.1:9/hook'")


def test_a_reminder_fires_within_5_s_of_its_time_once_with_its_event(api, db, database_url):
    subscribe(db, api.user_id)
    task = api.created(title="call back", due_at=soon(3600), reminders=[{"at": soon(2)}])
    reminder = task["reminders"][0]
    with running_workers(database_url):
        wait_until(lambda: state(db, reminder["id"])["state"] == "fired", 10, "the firing")
        row = state(db, reminder["id"])
        assert row["fired_at"] - row["fire_at"] < timedelta(seconds=5)
        assert row["fired_at"] >= row["fire_at"]
        time.sleep(1.0)  # a few more rounds: nothing fires twice
    assert firings(db, api.user_id) == Counter({(reminder["id"], reminder["fire_at"]): 1})
    event = db.execute(
        "SELECT data FROM events WHERE user_id = %s AND type = 'reminder.fired'", (api.user_id,)
    ).fetchone()["data"]
    assert event["task"]["id"] == task["id"] and event["task"]["title"] == "call back"
    assert event["reminder"]["state"] == "fired" and event["reminder"]["at"] == reminder["at"]
    listed = api.app.get(f"/api/{api.user_id}/reminders?state=fired").json
    assert [r["id"] for r in listed] == [reminder["id"]]
    assert api.app.get(api.item(task["id"])).json["reminders"][0]["state"] == "fired"


def test_two_workers_fire_each_reminder_exactly_once(app, db, database_url):
    users = [Api(app, f"rem2-{i}-{time.monotonic_ns()}") for i in range(4)]
    expected = 0
    for api in users:
        subscribe(db, api.user_id)
        for _ in range(5):
            at = [{"at": soon(1.5 + i * 0.05)} for i in range(10)]
            api.created(due_at=soon(7200), reminders=at)
            expected += 10
    with running_workers(database_url, count=2):
        wait_until(
            lambda: sum(sum(firings(db, a.user_id).values()) for a in users) >= expected,
            20,
            "every firing",
        )
        time.sleep(1.0)
    fired = Counter()
    for api in users:
        fired.update(firings(db, api.user_id))
    assert len(fired) == expected
    duplicates = sum(n - 1 for n in fired.values())
    assert duplicates == 0
    assert max(fired.values()) == 1


def test_two_worker_processes_fire_each_reminder_exactly_once(
    app,
    db,
    database_url,
    metrics_dir,  # noqa: F811 - the fixture
):
    users = [Api(app, f"rem2p-{i}-{time.monotonic_ns()}") for i in range(3)]
    ids = []
    for api in users:
        subscribe(db, api.user_id)
        for _ in range(4):
            task = api.created(reminders=[{"at": soon(3 + i * 0.1)} for i in range(10)])
            ids += [r["id"] for r in task["reminders"]]
    workers = [WorkerProcess(database_url, metrics_dir) for _ in range(2)]
    try:
        wait_until(
            lambda: sum(sum(firings(db, a.user_id).values()) for a in users) >= len(ids),
            25,
            "every firing",
        )
        time.sleep(1.0)
        lags = [
            (r["fired_at"] - r["fire_at"]).total_seconds()
            for r in db.execute(
                "SELECT fire_at, fired_at FROM reminders WHERE id = ANY(%s::uuid[])", (ids,)
            )
        ]
    finally:
        for worker in workers:
            code, _ = worker.stop()
            assert code == 0
            worker.close()
    fired = Counter()
    for api in users:
        fired.update(firings(db, api.user_id))
    assert sorted(rid for rid, _ in fired) == sorted(ids)
    assert max(fired.values()) == 1
    assert max(lags) < 5


def test_after_downtime_recent_ones_fire_late_and_older_ones_are_missed(api, db, database_url):
    subscribe(db, api.user_id)
    task = api.created(due_at=soon(3600), reminders=[{"at": soon(600)}, {"at": soon(900)}])
    late, old = (r["id"] for r in task["reminders"])
    # The worker was down while their times passed: 2 h and 30 h ago.
    db.execute("UPDATE reminders SET fire_at = now() - interval '2 hours' WHERE id = %s", (late,))
    db.execute("UPDATE reminders SET fire_at = now() - interval '30 hours' WHERE id = %s", (old,))
    with running_workers(database_url):
        wait_until(lambda: state(db, old)["state"] == "missed", 10, "the missed one")
        wait_until(lambda: state(db, late)["state"] == "fired", 10, "the late one")
    assert state(db, old)["fired_at"] is None
    assert [rid for rid, _ in firings(db, api.user_id)] == [late]


def test_a_past_at_fires_at_once_when_less_than_a_day_old(api, db, database_url):
    subscribe(db, api.user_id)
    task = api.created(reminders=[{"at": stamp(datetime.now(UTC) - timedelta(hours=3))}])
    assert task["reminders"][0]["state"] == "scheduled"
    with running_workers(database_url):
        wait_until(lambda: firings(db, api.user_id), 10, "the firing")


def test_completed_trashed_and_acknowledged_never_fire(api, db, database_url):
    subscribe(db, api.user_id)
    done = api.created(reminders=[{"at": soon(1)}])
    api.app.patch(f"{api.item(done['id'])}/complete")
    trashed = api.created(reminders=[{"at": soon(1)}])
    api.app.delete(api.item(trashed["id"]))
    acked = api.created(reminders=[{"at": soon(1)}])
    api.app.post(f"/api/{api.user_id}/reminders/{acked['reminders'][0]['id']}/ack")
    control = api.created(reminders=[{"at": soon(1.5)}])
    with running_workers(database_url):
        wait_until(
            lambda: state(db, control["reminders"][0]["id"])["state"] == "fired", 10, "control"
        )
        time.sleep(1.0)
    assert [rid for rid, _ in firings(db, api.user_id)] == [control["reminders"][0]["id"]]
    assert state(db, done["reminders"][0]["id"])["state"] == "scheduled"
    assert state(db, trashed["reminders"][0]["id"])["state"] == "scheduled"
    # The trashed task's reminder is left out of the list too.
    listed = api.app.get(f"/api/{api.user_id}/reminders").json
    assert trashed["reminders"][0]["id"] not in [r["id"] for r in listed]
    assert state(db, acked["reminders"][0]["id"])["state"] == "acknowledged"


def test_a_snoozed_reminder_fires_once_more_at_its_new_time(api, db, database_url):
    subscribe(db, api.user_id)
    task = api.created(reminders=[{"at": soon(1)}])
    rid = task["reminders"][0]["id"]
    with running_workers(database_url):
        wait_until(lambda: state(db, rid)["state"] == "fired", 10, "the first firing")
        until = soon(1.5)
        snoozed = api.app.post_json(
            f"/api/{api.user_id}/reminders/{rid}/snooze", {"until": until}
        ).json
        assert snoozed["state"] == "snoozed" and snoozed["fire_at"] == until
        wait_until(lambda: sum(firings(db, api.user_id).values()) == 2, 10, "the second firing")
        time.sleep(1.5)
    counted = firings(db, api.user_id)
    assert sum(counted.values()) == 2 and max(counted.values()) == 1
    assert (rid, until) in counted
    assert state(db, rid)["state"] == "fired"


def test_a_fired_reminders_event_carries_the_tasks_absolute_url_built_on_public_url(
    api, db, database_url
):
    """No request caused the firing: the task's url starts with PUBLIC_URL, and equals the
    url a client reaching the service there reads (the api fixture's host is tasks.test)."""
    task = api.created(title="call back", reminders=[{"at": soon(0.5)}])
    assert task["url"].startswith("http://tasks.test/api/")
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    config = make_config(
        database_url,
        POOL_MIN_SIZE="1",
        POOL_MAX_SIZE="4",
        PUBLIC_URL="http://tasks.test/",
        WEBHOOK_ALLOW_INSECURE="true",
    )
    pool = create_pool(config, QUERIES)
    pool.open(wait=True, timeout=10)
    jobs = [
        FireReminders(pool, QUERIES, interval=0.2, public_url=config.public_url),
        DeliverWebhooks(pool, QUERIES, concurrency=1, interval=0.2, allow_insecure=True),
    ]
    worker = Worker(pool, jobs, None)
    thread = threading.Thread(target=worker.run, daemon=True)
    try:
        with receiver() as rx:
            db.execute(
                "INSERT INTO webhooks (user_id, url, events, secret) VALUES (%s, %s, %s, %s)",
                (api.user_id, rx.url, ["reminder.fired"], secret),
            )
            thread.start()
            got = rx.wait_for(1)[0]
    finally:
        worker.stop()
        thread.join(10)
        pool.close()
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "reminder.fired"
    assert payload["data"]["reminder"]["id"] == task["reminders"][0]["id"]
    assert payload["data"]["task"]["url"] == task["url"]
    assert payload["data"]["task"]["id"] == task["id"]


def test_a_firing_round_wakes_the_deliveries_at_once_whatever_their_poll_interval(
    api: Api, db, database_url: str
) -> None:
    # The worker as `python -m service.worker` builds it, polling only every 5 s when idle:
    # the reminder.fired event its firing round writes is delivered straight after that
    # round, not at the deliveries' next poll.
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    task = api.created(title="ring", reminders=[{"at": soon(0.2)}])
    config = make_config(
        database_url,
        POOL_MIN_SIZE="1",
        WORKER_POLL_SECONDS="5",
        WEBHOOK_ALLOW_INSECURE="true",
    )
    with receiver() as rx:
        db.execute(
            "INSERT INTO webhooks (user_id, url, events, secret) VALUES (%s, %s, %s, %s)",
            (api.user_id, rx.url, ["reminder.fired"], secret),
        )
        time.sleep(0.5)  # due before the worker starts: its first firing round fires it
        worker = build_worker(config)
        thread = threading.Thread(target=worker.run, daemon=True)
        started = time.monotonic()
        thread.start()
        try:
            got = rx.wait_for(1, timeout=10)[0]
            waited = time.monotonic() - started
        finally:
            worker.stop()
            thread.join(10)
            worker.pool.close()
    assert Webhook(secret).verify(got.body, got.headers)["data"]["task"]["id"] == task["id"]
    # The first delivery round ran before the firing and found nothing: without the wake it
    # would have slept its 5 s.
    assert waited < 3.0, waited
