-- Claim up to `limit` of one user's due deliveries to enabled webhooks: lock them skipping
-- rows another worker holds, count the attempt and push next_attempt_at forward by a lease,
-- so that no other worker takes them while this one sends (the transaction commits at once;
-- the send happens outside it). A worker that dies mid-send leaves the row due again when
-- the lease ends. The row's new `attempt` fences the outcome (jobs/delivery_record).
-- One user per statement: a single-shard statement on Citus.
WITH due AS (
    SELECT d.webhook_id, d.event_id
    FROM webhook_deliveries d
    JOIN webhooks w ON w.user_id = d.user_id AND w.id = d.webhook_id
    WHERE d.user_id = %(user_id)s
      AND w.user_id = %(user_id)s
      AND d.status = 'pending'
      AND d.next_attempt_at <= now()
      AND w.enabled
    ORDER BY d.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
SET attempt = d.attempt + 1,
    next_attempt_at = now() + make_interval(secs => %(lease_seconds)s)
FROM due, events e, webhooks w
WHERE d.user_id = %(user_id)s
  AND d.webhook_id = due.webhook_id
  AND d.event_id = due.event_id
  AND e.user_id = %(user_id)s
  AND e.id = d.event_id
  AND w.user_id = %(user_id)s
  AND w.id = d.webhook_id
RETURNING d.user_id, d.webhook_id::text AS webhook_id, d.event_id::text AS event_id,
          d.attempt, d.created_at, e.type, e.occurred_at, e.data, w.url, w.secret
