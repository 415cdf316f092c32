"""Job: fire due reminders, exactly once per scheduled fire_at, even with several workers.

A round finds users with reminders due now (a read across users that locks nothing), then,
for each user, in one short transaction: claims the user's due reminders with FOR UPDATE
SKIP LOCKED and marks them `fired` in the same statement (on Citus: one shard), and writes
one `reminder.fired` event per fired reminder to the outbox (service/data/outbox.py), so
the firing and its event commit together or not at all. A fired reminder has left the
queue: another worker, or a later round, cannot fire it again. Reminders whose time passed
more than 24 h ago (the worker was down) are marked `missed` instead; those of completed or
trashed tasks are left alone (they do not fire).

The event's task carries its absolute `url`, as every task event does. No request caused
the firing, so the URL is built on the service's configured public URL (PUBLIC_URL) where a
write's events use the request's scheme and host.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from psycopg_pool import ConnectionPool

from service.core.config import DEFAULT_PUBLIC_URL
from service.data import unit_of_work
from service.data.outbox import Outbox, task_payload, url_prefix
from service.data.queries import Queries
from service.domain.reminders import LATE_WINDOW
from service.jobs.metrics import REMINDERS, REMINDERS_LAG

logger = logging.getLogger("service.jobs.fire_reminders")

# Users looked at per round, and reminders claimed per user per statement.
USERS_PER_ROUND = 50
PER_USER = 100


def reminder_data(row: dict[str, Any]) -> dict[str, Any]:
    """Return the reminder as its task shows it: one form, fire_at, state, fired_at."""
    body: dict[str, Any] = {"id": row["id"]}
    if row["at"] is not None:
        body["at"] = row["at"]
    else:
        body["before_due"] = row["before_due"]
    body.update(fire_at=row["fire_at"], state=row["state"], fired_at=row["fired_at"])
    return body


class FireReminders:
    """Claim and fire due reminders; see the module's docstring."""

    name = "fire_reminders"

    def __init__(
        self,
        pool: ConnectionPool,
        queries: Queries,
        interval: float = 1.0,
        public_url: str = DEFAULT_PUBLIC_URL,
    ) -> None:
        self._pool = pool
        self.interval = interval
        self._public_url = public_url
        self._due_users = queries["jobs/reminders_due_users"]
        self._claim = queries["jobs/reminders_claim"]
        self._task = queries["task_get"]
        self._outbox = Outbox(pool, queries)

    def run_once(self, stopping: threading.Event) -> int:
        """Fire what is due now for up to USERS_PER_ROUND users; return how many changed."""
        with self._pool.connection() as conn:
            users = conn.execute(self._due_users, {"limit": USERS_PER_ROUND}).fetchall()
        handled = 0
        # The events' task urls (outbox.tasks_url) start with the public URL.
        token = url_prefix.set(self._public_url)
        try:
            for user in users:
                if stopping.is_set():
                    break
                handled += self._fire_user(user["user_id"], user["now"])
        finally:
            url_prefix.reset(token)
        return handled

    def _fire_user(self, user_id: str, now: Any) -> int:
        params = {
            "user_id": user_id,
            "now": now,
            "late_after": now - LATE_WINDOW,
            "limit": PER_USER,
        }
        with unit_of_work.transaction(self._pool) as conn:
            rows = conn.execute(self._claim, params).fetchall()
            tasks: dict[str, dict[str, Any] | None] = {}
            for row in rows:
                if row["state"] != "fired":
                    continue
                task_id = row["task_id"]
                if task_id not in tasks:
                    task = conn.execute(
                        self._task, {"user_id": user_id, "task_id": task_id}
                    ).fetchone()
                    tasks[task_id] = None if task is None else task_payload(user_id, task)
                event_id = self._outbox.emit(
                    user_id,
                    "reminder.fired",
                    {"task": tasks[task_id], "reminder": reminder_data(row)},
                )
                logger.info(
                    "reminder fired",
                    extra={
                        "user_id": user_id,
                        "reminder_id": row["id"],
                        "task_id": task_id,
                        "fire_at": row["fire_at"],
                        "lag_seconds": round(row["lag_seconds"], 3),
                        "event_id": event_id,
                    },
                )
        for row in rows:
            REMINDERS.labels(row["state"]).inc()
            if row["state"] == "fired":
                REMINDERS_LAG.observe(max(0.0, row["lag_seconds"]))
            else:
                logger.info(
                    "reminder missed",
                    extra={"user_id": user_id, "reminder_id": row["id"], "fire_at": row["fire_at"]},
                )
        return len(rows)

    def stop(self) -> None:
        """Nothing to release: every claim commits before the round ends."""
