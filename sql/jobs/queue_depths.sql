-- The worker's gauges: deliveries pending and due now, how long the oldest due one has
-- waited (seconds), and expired Idempotency-Key records waiting for the purge. Read-only,
-- across users (a multi-shard read on Citus).
SELECT
    (SELECT count(*) FROM webhook_deliveries
     WHERE status = 'pending' AND next_attempt_at <= now()) AS deliveries_due,
    (SELECT coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)::float8
     FROM webhook_deliveries
     WHERE status = 'pending' AND next_attempt_at <= now()) AS deliveries_lag_seconds,
    (SELECT count(*) FROM idempotency_keys
     WHERE created_at < now() - interval '24 hours') AS idempotency_expired
