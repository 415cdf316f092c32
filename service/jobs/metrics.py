"""The worker's own metrics, written where the web workers write theirs (one /metrics).

With PROMETHEUS_MULTIPROC_DIR set (make run gives gunicorn and the worker the same
directory), the worker's samples land in files beside the web workers' and any web worker's
GET /metrics shows them. The gauges are "livemax": a stopped worker's values disappear once
it marks itself dead (service/worker.py does on exit), and several workers reading the same
queue report one figure.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from service.core.metrics import REGISTRY

QUEUE_DEPTH = Gauge(
    "tasks_worker_queue_depth",
    "Work waiting in a queue now: webhook deliveries due, expired Idempotency-Key records, "
    "reminders due to fire.",
    ["queue"],
    multiprocess_mode="livemax",
    registry=REGISTRY,
)
QUEUE_LAG = Gauge(
    "tasks_worker_queue_lag_seconds",
    "How long the oldest due item of a queue has waited past its due time.",
    ["queue"],
    multiprocess_mode="livemax",
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "tasks_worker_webhook_deliveries",
    "Webhook delivery attempts by outcome: succeeded (2xx), retried (failed, another attempt "
    "scheduled), failed (failed after the retry window; the webhook was disabled).",
    ["outcome"],
    registry=REGISTRY,
)
REFUSALS = Counter(
    "tasks_worker_webhook_refusals",
    "Delivery attempts refused before connecting: the target is not a public address.",
    registry=REGISTRY,
)
PURGED = Counter(
    "tasks_worker_purged",
    "Rows purged by the worker, by what they were.",
    ["kind"],
    registry=REGISTRY,
)
REMINDERS = Counter(
    "tasks_worker_reminders",
    "Reminders the worker handled, by outcome: fired, or missed (due more than 24 h ago).",
    ["outcome"],
    registry=REGISTRY,
)
REMINDERS_LAG = Histogram(
    "tasks_worker_reminder_lag_seconds",
    "How late each reminder fired: from its fire_at to the start of the firing round (the "
    "database's clock when the round looked for due reminders).",
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300, 3600, 86400),
    registry=REGISTRY,
)
JOB_ERRORS = Counter(
    "tasks_worker_job_errors",
    "Runs of a job that failed (the database unreachable, a statement that failed).",
    ["job"],
    registry=REGISTRY,
)

DELIVERY_OUTCOMES = ("succeeded", "retried", "failed")
QUEUES = ("webhook_deliveries", "idempotency_expired", "reminders")


def declare(jobs: list[str]) -> None:
    """Create every labelled series at zero, so that rate() and alerts see them from the start."""
    for outcome in DELIVERY_OUTCOMES:
        DELIVERIES.labels(outcome)
    for kind in ("idempotency_keys", "events", "trash", "tombstones"):
        PURGED.labels(kind)
    for outcome in ("fired", "missed"):
        REMINDERS.labels(outcome)
    for job in jobs:
        JOB_ERRORS.labels(job)
