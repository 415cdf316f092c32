"""`python -m service.worker` as a real process: several at once, SIGTERM, metrics, logs,
and the database going away and coming back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from service.core.config import PROJECT_ROOT
from service.server import migrate
from tests.faultkit import POSTGRES_PORTS, Cluster, free_port, postgres_bin
from tests.webhook_receiver import quiet_webhooks, receiver, wait_until  # noqa: F401 - an autouse fixture

EMIT = (PROJECT_ROOT / "sql" / "event_insert.sql").read_text()


class WorkerProcess:
    """One `python -m service.worker`, its log in a file."""

    def __init__(self, database_url: str, metrics_dir: Path, **settings: str) -> None:
        self.log = Path(tempfile.mkstemp(prefix="tasks-worker-", suffix=".log")[1])
        keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            {
                "DATABASE_URL": database_url,
                "WEBHOOK_ALLOW_INSECURE": "true",
                "WORKER_POLL_SECONDS": "0.2",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                "PG_CONNECT_TIMEOUT": "1",
                "POOL_TIMEOUT": "1",
                "LOG_LEVEL": "INFO",
                **settings,
            }
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service.worker"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def lines(self) -> list[dict]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out

    def stop(self, timeout: float = 20) -> tuple[int, float]:
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.unlink(missing_ok=True)


def emit(conn: psycopg.Connection, user_id: str, data: dict) -> str:
    row = conn.execute(
        EMIT, {"user_id": user_id, "type": "task.created", "data": json.dumps(data)}
    ).fetchone()
    assert row is not None
    return row[0]


def subscribe(conn: psycopg.Connection, user_id: str, url: str) -> None:
    conn.execute(
        "INSERT INTO webhooks (user_id, url, events, secret) VALUES (%s, %s, %s, %s)",
        (user_id, url, ["task.created"], "whsec_" + "QUFB" * 11),
    )


@pytest.fixture
def metrics_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="tasks-worker-metrics-"))
    yield directory
    for path in directory.glob("*"):
        path.unlink()
    directory.rmdir()


def scrape(directory: Path) -> str:
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def test_two_worker_processes_deliver_each_event_once_and_stop_on_sigterm(
    database_url, metrics_dir
):
    users = [f"user-{uuid.uuid4().hex[:12]}" for _ in range(10)]
    workers: list[WorkerProcess] = []
    try:
        with receiver() as rx, psycopg.connect(database_url, autocommit=True) as conn:
            for user in users:
                subscribe(conn, user, rx.url)
            workers = [WorkerProcess(database_url, metrics_dir) for _ in range(2)]
            events = [emit(conn, u, {"i": i}) for i in range(15) for u in users]
            rx.wait_for(len(events), timeout=60)
            wait_until(
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM webhook_deliveries WHERE user_id = ANY(%s) "
                        "AND status = 'succeeded'",
                        (users,),
                    ).fetchone()[0]
                    == len(events)
                ),
                timeout=30,
            )
            time.sleep(0.5)  # a duplicate, if any, would arrive now
            received = Counter(r.headers["webhook-id"] for r in rx.requests)
        assert set(received) == set(events)
        assert max(received.values()) == 1, "an event was delivered twice"
        # Both took part (each claims a share of the users) unless one was much faster.
        text = scrape(metrics_dir)
        assert 'tasks_worker_webhook_deliveries_total{outcome="succeeded"}' in text
        succeeded = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('tasks_worker_webhook_deliveries_total{outcome="succeeded"}')
        )
        assert succeeded >= len(events)
        assert "tasks_worker_queue_depth" in text
        for worker in workers:
            code, seconds = worker.stop()
            assert code == 0 and seconds < 15
        lines = [line for w in workers for line in w.lines()]
        delivered = [ln for ln in lines if ln.get("message") == "webhook delivery succeeded"]
        assert {ln["event_id"] for ln in delivered} >= set(events)
        assert all(ln.get("webhook_id") and ln.get("attempt") == 1 for ln in delivered)
        assert any(ln.get("message") == "worker stopped" for ln in lines)
        # A stopped worker's live gauges leave /metrics; its counters stay.
        after = scrape(metrics_dir)
        assert "tasks_worker_queue_depth{" not in after
        assert 'tasks_worker_webhook_deliveries_total{outcome="succeeded"}' in after
    finally:
        for worker in workers:
            worker.close()


def test_sigterm_lets_a_delivery_in_flight_finish(database_url, metrics_dir):
    user = f"user-{uuid.uuid4().hex[:12]}"
    with receiver([200], delay=2.0) as rx, psycopg.connect(database_url, autocommit=True) as conn:
        subscribe(conn, user, rx.url)
        worker = WorkerProcess(database_url, metrics_dir)
        try:
            event_id = emit(conn, user, {})
            rx.wait_for(1, timeout=20)
            code, seconds = worker.stop()
        finally:
            worker.close()
        row = conn.execute(
            "SELECT status, attempt FROM webhook_deliveries WHERE event_id = %s", (event_id,)
        ).fetchone()
    assert code == 0 and seconds < 10
    assert row == ("succeeded", 1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (Debian's postgresql or pgserver) on this machine")
    cluster = Cluster(bin_dir, free_port(POSTGRES_PORTS))
    try:
        cluster.init()
        cluster.start()
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE tasks")
        migrate.apply(cluster.url("tasks"))
        yield cluster
    finally:
        cluster.destroy()


def test_the_worker_survives_the_database_going_away(cluster, metrics_dir):
    url = cluster.url("tasks")
    user = f"user-{uuid.uuid4().hex[:12]}"
    with receiver() as rx:
        with psycopg.connect(url, autocommit=True) as conn:
            subscribe(conn, user, rx.url)
        worker = WorkerProcess(url, metrics_dir)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                first = emit(conn, user, {"before": True})
            rx.wait_for(1, timeout=20)
            cluster.stop("immediate")
            time.sleep(4)
            assert worker.proc.poll() is None, worker.log.read_text()[-2000:]
            failures = [
                ln for ln in worker.lines() if str(ln.get("message", "")).startswith("job ")
            ]
            assert failures, "no failed round was logged while the database was away"
            assert all(ln["level"] == "WARNING" for ln in failures)
            cluster.start()
            with psycopg.connect(url, autocommit=True) as conn:
                second = emit(conn, user, {"after": True})
            got = rx.wait_for(2, timeout=45)
            code, _ = worker.stop()
        finally:
            worker.close()
    assert [r.headers["webhook-id"] for r in got[:2]] == [first, second]
    assert code == 0
    errors = scrape(metrics_dir)
    assert "tasks_worker_job_errors_total" in errors
