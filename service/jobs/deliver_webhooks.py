"""Job: deliver due webhook events, signed per Standard Webhooks, retrying on failure.

A round finds users with due deliveries (a read across users that locks nothing), then
claims each user's due rows with FOR UPDATE SKIP LOCKED in a statement of its own that
commits at once (on Citus: one shard), taking a lease on them: another worker skips them
while this one sends. Each claimed delivery is sent on a thread of a small pool, outside
any transaction, and its outcome is recorded in a second short statement fenced by the
attempt number. At most `concurrency` deliveries are in flight; on stop no more are
claimed and those in flight finish (each is bounded by the 10 s timeout).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import psycopg
from psycopg_pool import ConnectionPool
from standardwebhooks import Webhook

from service.data.queries import Queries
from service.domain.webhooks import next_attempt
from service.jobs.guarded_http import AddressRefused, guarded_client
from service.jobs.metrics import DELIVERIES, REFUSALS

logger = logging.getLogger("service.jobs.deliver_webhooks")

# How long a claim keeps other workers off a delivery: the send's 10 s timeout, the
# outcome's statement, and a wide margin. A worker that dies mid-send delays that
# delivery's retry by this much.
LEASE_SECONDS = 60
# Users looked at per round.
USERS_PER_ROUND = 50


def event_body(row: dict[str, Any]) -> bytes:
    """Return the JSON body of an event as sent: id, type, occurred_at, user_id, data."""
    return orjson.dumps(
        {
            "id": row["event_id"],
            "type": row["type"],
            "occurred_at": row["occurred_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "user_id": row["user_id"],
            "data": row["data"],
        }
    )


def signed_headers(secret: str, event_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """Return the Standard Webhooks headers: webhook-id, -timestamp and -signature."""
    signature = Webhook(secret).sign(msg_id=event_id, timestamp=now, data=body.decode())
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def _refused(error: BaseException) -> bool:
    # httpx wraps the transport's error; the guard's refusal is its cause.
    while error is not None:
        if isinstance(error, AddressRefused):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


class DeliverWebhooks:
    """Claim due deliveries, send them, record each outcome; see the module's docstring."""

    name = "deliver_webhooks"

    def __init__(
        self,
        pool: ConnectionPool,
        queries: Queries,
        *,
        concurrency: int = 8,
        interval: float = 1.0,
        allow_insecure: bool = False,
        client: httpx.Client | None = None,
    ) -> None:
        self.interval = interval
        self._pool = pool
        self._due_users = queries["jobs/deliveries_due_users"]
        self._claim = queries["jobs/deliveries_claim"]
        self._record = queries["jobs/delivery_record"]
        self._disable = queries["jobs/webhook_disable"]
        self._concurrency = concurrency
        self._client = client or guarded_client(allow_insecure)
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="delivery")
        self._in_flight: set[Future[None]] = set()
        self._lock = threading.Lock()

    def run_once(self, stopping: threading.Event) -> int:
        """Claim as many due deliveries as there are free threads and start them.

        Return how many it started (or, with every thread busy, how many finished while it
        waited for one): more than 0 means look again at once.
        """
        with self._lock:
            self._in_flight = {f for f in self._in_flight if not f.done()}
            free = self._concurrency - len(self._in_flight)
            busy = list(self._in_flight)
        if free <= 0:
            # Every thread is sending: wait for one to finish (not for the poll interval), so
            # that a backlog drains as fast as the receivers answer.
            done, _ = wait(busy, timeout=self.interval, return_when=FIRST_COMPLETED)
            return len(done)
        with self._pool.connection() as conn:
            users = [r["user_id"] for r in conn.execute(self._due_users, {"limit": free})]
        claimed: list[dict[str, Any]] = []
        for user_id in users:
            if stopping.is_set() or len(claimed) >= free:
                break
            with self._pool.connection() as conn:
                params = {
                    "user_id": user_id,
                    "limit": free - len(claimed),
                    "lease_seconds": LEASE_SECONDS,
                }
                claimed += conn.execute(self._claim, params).fetchall()
        for row in claimed:
            future = self._threads.submit(self.deliver, row)
            with self._lock:
                self._in_flight.add(future)
        return len(claimed)

    def deliver(self, row: dict[str, Any]) -> None:
        """Send one claimed delivery and record its outcome (runs on a delivery thread)."""
        ids = {
            "event_id": row["event_id"],
            "webhook_id": row["webhook_id"],
            "user_id": row["user_id"],
            "attempt": row["attempt"],
            "event_type": row["type"],
        }
        body = event_body(row)
        now = datetime.now(UTC)
        code: int | None = None
        error: str | None = None
        try:
            headers = signed_headers(row["secret"], row["event_id"], body, now)
            response = self._client.post(row["url"], content=body, headers=headers)
            code = response.status_code
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as exc:
            if _refused(exc):
                REFUSALS.inc()
                error = f"refused: {exc}"
            else:
                error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bad URL stored before a rule changed, a bad secret
            logger.exception("webhook delivery failed unexpectedly", extra=ids)
            error = f"{type(exc).__name__}"
        try:
            self._record_outcome(row, ids, now, code, error)
        except psycopg.Error:
            # The lease runs out and another round retries it: at least once, as promised.
            logger.warning("recording a delivery's outcome failed", exc_info=True, extra=ids)

    def _record_outcome(
        self,
        row: dict[str, Any],
        ids: dict[str, Any],
        now: datetime,
        code: int | None,
        error: str | None,
    ) -> None:
        succeeded = code is not None and 200 <= code < 300
        retry_at = None if succeeded else next_attempt(row["attempt"], row["created_at"], now)
        if succeeded:
            status, outcome = "succeeded", "succeeded"
        elif retry_at is not None:
            status, outcome = "pending", "retried"
        else:
            status, outcome = "failed", "failed"
        params = {
            "user_id": row["user_id"],
            "webhook_id": row["webhook_id"],
            "event_id": row["event_id"],
            "attempt": row["attempt"],
            "status": status,
            "next_attempt_at": retry_at,
            "response_code": code,
            "attempted_at": now,
            "error": None if error is None else error[:500],
        }
        with self._pool.connection() as conn, conn.transaction():
            recorded = conn.execute(self._record, params).fetchone()
            if recorded is not None and status == "failed":
                conn.execute(
                    self._disable, {"user_id": row["user_id"], "webhook_id": row["webhook_id"]}
                )
        if recorded is None:
            logger.warning("a delivery's claim was lost before its outcome was recorded", extra=ids)
            return
        DELIVERIES.labels(outcome).inc()
        fields = {**ids, "outcome": outcome, "response_code": code, "error": error}
        if retry_at is not None:
            fields["next_attempt_at"] = retry_at.isoformat()
        if status == "failed":
            logger.warning("webhook delivery given up; webhook disabled", extra=fields)
        else:
            logger.info("webhook delivery %s", outcome, extra=fields)

    def stop(self, timeout: float = 15.0) -> None:
        """Let the deliveries in flight finish (each within its timeout), then close."""
        self._threads.shutdown(wait=True, cancel_futures=False)
        self._client.close()
