-- The worker's gauges: deliveries pending and due now (to enabled webhooks), how long the oldest due one has
-- waited (seconds), and expired Idempotency-Key records waiting for the purge. Read-only,
-- across users (a multi-shard read on Citus).
WITH due AS (
    SELECT d.next_attempt_at
    FROM webhook_deliveries d
    JOIN webhooks w ON w.user_id = d.user_id AND w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.enabled
)
SELECT
    (SELECT count(*) FROM due) AS deliveries_due,
    (SELECT coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)::float8
     FROM due) AS deliveries_lag_seconds,
    (SELECT count(*) FROM idempotency_keys
     WHERE created_at < now() - interval '24 hours') AS idempotency_expired
