"""The background worker: `python -m service.worker` fires reminders, delivers webhooks, purges.

The purges: expired Idempotency-Key records, outbox events past their retention, trash
batches older than TRASH_RETENTION_DAYS, and changes-feed tombstones older than 90 days.

Any number may run at once, beside the web service or on other hosts: every job claims its
work with FOR UPDATE SKIP LOCKED in short statements (service/jobs/, sql/jobs/), so two
workers never take the same item. SIGTERM or SIGINT stops it cleanly: it claims nothing
more, lets the deliveries in flight finish (each bounded by its 10 s timeout) and exits 0.
While the database is away it keeps running: each failed round is logged and counted, and
the job waits longer before the next (0.5 s doubling to 30 s, with jitter), as the pool
reconnects in the background. Its metrics go to the same Prometheus files as the web
workers' (PROMETHEUS_MULTIPROC_DIR), so the web service's /metrics shows them.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
from dataclasses import dataclass, field, replace
from time import monotonic
from typing import Protocol

import psycopg
from psycopg_pool import ConnectionPool

from service.core.config import Config, ConfigError
from service.core.logs import configure_logging
from service.core.metrics import multiprocess_dir
from service.data.pool import create_pool
from service.data.queries import Queries
from service.jobs import metrics
from service.jobs.deliver_webhooks import DeliverWebhooks
from service.jobs.fire_reminders import FireReminders
from service.jobs.purge_events import PurgeEvents
from service.jobs.purge_idempotency_keys import PurgeIdempotencyKeys
from service.jobs.purge_tombstones import PurgeTombstones
from service.jobs.purge_trash import PurgeTrash

logger = logging.getLogger("service.worker")

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# How often the queue gauges are read from the database.
GAUGE_INTERVAL = 5.0


class Job(Protocol):
    """One kind of background work: run a round now and then, stop cleanly."""

    name: str
    interval: float

    def run_once(self, stopping: threading.Event) -> int:
        """Do one round; return how many items it handled (more than 0: look again soon)."""

    def stop(self) -> None:
        """Finish or release what the job holds."""


@dataclass
class Schedule:
    """When a job runs next, and how far it backs off after failures."""

    job: Job
    due: float = 0.0
    failures: int = 0
    backoff: float = field(default=0.0)

    def succeeded(self, handled: int, now: float) -> None:
        """Run again at once when the round found work, else after the job's interval."""
        self.failures = 0
        self.due = now if handled else now + self.job.interval

    def failed(self, now: float) -> float:
        """Back off: 0.5 s doubling up to 30 s, each +-20 %; return the wait."""
        self.failures += 1
        base = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.failures - 1))
        wait = base * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
        self.due = now + wait
        return wait


class QueueGauges:
    """Read the queues' depth and lag into the gauges every GAUGE_INTERVAL seconds."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._sql = queries["jobs/queue_depths"]
        self.due = 0.0

    def sample(self) -> None:
        """Read the figures now (a read across users; locks nothing)."""
        with self._pool.connection() as conn:
            row = conn.execute(self._sql).fetchone()
        assert row is not None
        metrics.QUEUE_DEPTH.labels("webhook_deliveries").set(row["deliveries_due"])
        metrics.QUEUE_LAG.labels("webhook_deliveries").set(row["deliveries_lag_seconds"])
        metrics.QUEUE_DEPTH.labels("idempotency_expired").set(row["idempotency_expired"])
        metrics.QUEUE_DEPTH.labels("reminders").set(row["reminders_due"])
        metrics.QUEUE_LAG.labels("reminders").set(row["reminders_lag_seconds"])


class Worker:
    """Run the jobs until `stopping` is set."""

    def __init__(
        self,
        pool: ConnectionPool,
        jobs: list[Job],
        gauges: QueueGauges | None,
        wakes: dict[str, list[str]] | None = None,
    ) -> None:
        self.pool = pool
        self.stopping = threading.Event()
        self._schedules = [Schedule(job) for job in jobs]
        self._gauges = gauges
        # A job whose round found work makes these others due at once: what it wrote is
        # their work (a fired reminder's event is a delivery to make).
        by_name = {schedule.job.name: schedule for schedule in self._schedules}
        self._wakes = {
            name: [by_name[other] for other in others if other in by_name]
            for name, others in (wakes or {}).items()
        }
        metrics.declare([job.name for job in jobs])

    def run(self) -> None:
        """Loop over the jobs, each when due, until stopped; then stop each job."""
        try:
            while not self.stopping.is_set():
                now = monotonic()
                for schedule in self._schedules:
                    if self.stopping.is_set():
                        break
                    if schedule.due <= now:
                        self._run(schedule)
                        now = monotonic()
                self._sample_gauges(now)
                next_due = min(s.due for s in self._schedules)
                self.stopping.wait(max(0.0, min(next_due - monotonic(), GAUGE_INTERVAL)))
        finally:
            for schedule in self._schedules:
                schedule.job.stop()

    def _run(self, schedule: Schedule) -> None:
        job = schedule.job
        try:
            handled = job.run_once(self.stopping)
        except (psycopg.Error, OSError) as error:
            # The database is away (or a statement failed): keep going, the pool reconnects.
            wait = schedule.failed(monotonic())
            metrics.JOB_ERRORS.labels(job.name).inc()
            logger.warning(
                "job %s failed; next try in %.1f s: %s",
                job.name,
                wait,
                str(error).strip() or type(error).__name__,
                extra={"job": job.name, "failures": schedule.failures},
            )
            return
        now = monotonic()
        schedule.succeeded(handled, now)
        if handled:
            for woken in self._wakes.get(job.name, ()):
                if woken.failures == 0:  # a job backing off keeps its wait
                    woken.due = min(woken.due, now)

    def _sample_gauges(self, now: float) -> None:
        if self._gauges is None or self._gauges.due > now:
            return
        self._gauges.due = now + GAUGE_INTERVAL
        try:
            self._gauges.sample()
        except psycopg.Error:
            logger.debug("reading the queue gauges failed", exc_info=True)

    def stop(self, *_: object) -> None:
        """Ask the loop to stop (the SIGTERM and SIGINT handler)."""
        self.stopping.set()


def build(config: Config) -> Worker:
    """Assemble the worker: its pool (opened in the background) and its jobs."""
    queries = Queries.load()
    # One connection per delivery thread, one for the loop, one for the gauges.
    sized = replace(config, pool_max_size=config.worker_concurrency + 2)
    pool = create_pool(sized, queries)
    pool.open(wait=False)
    jobs: list[Job] = [
        DeliverWebhooks(
            pool,
            queries,
            concurrency=config.worker_concurrency,
            interval=config.worker_poll_seconds,
            allow_insecure=config.webhook_allow_insecure,
        ),
        FireReminders(
            pool, queries, interval=config.worker_poll_seconds, public_url=config.public_url
        ),
        PurgeIdempotencyKeys(pool, queries),
        PurgeEvents(pool, queries),
        PurgeTrash(pool, queries, config.trash_retention_days),
        PurgeTombstones(pool, queries),
    ]
    wakes = {"fire_reminders": ["deliver_webhooks"]}
    return Worker(pool, jobs, QueueGauges(pool, queries), wakes)


def main() -> int:
    """Run the worker until SIGTERM or SIGINT; return the exit status."""
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    if config.webhook_allow_insecure:
        logger.warning(
            "WEBHOOK_ALLOW_INSECURE is on: webhooks may target plain http and loopback, "
            "private or metadata addresses; for development and tests only"
        )
    worker = build(config)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    logger.info(
        "worker started",
        extra={"pid": os.getpid(), "concurrency": config.worker_concurrency},
    )
    try:
        worker.run()
    finally:
        worker.pool.close(timeout=5)
        directory = multiprocess_dir()
        if directory is not None:
            # Its live gauges leave /metrics with it; its counters stay (they are totals).
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), directory)
        logger.info("worker stopped", extra={"pid": os.getpid()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
