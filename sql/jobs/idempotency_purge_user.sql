-- Delete up to `limit` of one user's expired Idempotency-Key records, skipping rows another
-- transaction holds (a request replacing its own expired key, another worker): never waits.
-- One user per statement, so on Citus it runs on that user's shard alone.
DELETE FROM idempotency_keys
WHERE user_id = %(user_id)s
  AND key IN (SELECT key
              FROM idempotency_keys
              WHERE user_id = %(user_id)s
                AND created_at < now() - interval '24 hours'
              ORDER BY created_at
              LIMIT %(limit)s
              FOR UPDATE SKIP LOCKED)
