-- The worker's gauges: deliveries pending and due now (to enabled webhooks), how long the oldest due one has
-- waited (seconds), expired Idempotency-Key records waiting for the purge, and reminders due
-- to fire now (of open, untrashed tasks) with the oldest one's wait. Read-only, across users
-- (a multi-shard read on Citus).
WITH due AS (
    SELECT d.next_attempt_at
    FROM webhook_deliveries d
    JOIN webhooks w ON w.user_id = d.user_id AND w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.enabled
),
reminders_due AS (
    SELECT r.fire_at
    FROM reminders r
    JOIN tasks t ON t.user_id = r.user_id AND t.id = r.task_id
    WHERE r.state IN ('scheduled', 'snoozed') AND r.fire_at <= now()
      AND NOT t.completed AND t.deleted_at IS NULL
)
SELECT
    (SELECT count(*) FROM due) AS deliveries_due,
    (SELECT coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)::float8
     FROM due) AS deliveries_lag_seconds,
    (SELECT count(*) FROM idempotency_keys
     WHERE created_at < now() - interval '24 hours') AS idempotency_expired,
    (SELECT count(*) FROM reminders_due) AS reminders_due,
    (SELECT coalesce(extract(epoch FROM now() - min(fire_at)), 0)::float8
     FROM reminders_due) AS reminders_lag_seconds
