-- Disable a webhook whose delivery gave up after the retry window, and give up its other
-- pending deliveries with it (PATCH enabled=true turns it back on for new events).
-- One user by key: a single-shard statement on Citus.
WITH disabled AS (
    UPDATE webhooks
    SET enabled = false, version = version + 1, updated_at = now()
    WHERE user_id = %(user_id)s
      AND id = %(webhook_id)s
      AND enabled
    RETURNING user_id, id
)
UPDATE webhook_deliveries d
SET status = 'failed', next_attempt_at = NULL
FROM disabled
WHERE d.user_id = %(user_id)s
  AND d.webhook_id = disabled.id
  AND d.status = 'pending'
