-- Store the answer to a user's Idempotency-Key request, in the request's own transaction,
-- and purge a few of the same user's expired keys (bounded, skipping locked rows: never waits).
-- An expired record of the same key is replaced. A live one means another request with the
-- key committed first (it raced this one between claim and save): then no row is returned
-- and the caller rolls back.
-- ON CONFLICT takes no now(): Citus refuses any non-IMMUTABLE function in its SET and WHERE;
-- excluded.created_at is the new row's default, now(), evaluated once by the INSERT, and
-- timestamptz - timestamptz is IMMUTABLE where timestamptz - interval is not.
WITH purged AS (
    DELETE FROM idempotency_keys
    WHERE user_id = %(user_id)s
      AND key IN (SELECT key
                  FROM idempotency_keys
                  WHERE user_id = %(user_id)s
                    AND key <> %(key)s
                    AND created_at < now() - interval '24 hours'
                  ORDER BY created_at
                  LIMIT 20
                  FOR UPDATE SKIP LOCKED)
)
INSERT INTO idempotency_keys AS k (user_id, key, fingerprint, status, headers, body)
VALUES (%(user_id)s, %(key)s, %(fingerprint)s, %(status)s, %(headers)s, %(body)s)
ON CONFLICT (user_id, key) DO UPDATE
SET fingerprint = excluded.fingerprint,
    status      = excluded.status,
    headers     = excluded.headers,
    body        = excluded.body,
    created_at  = excluded.created_at
WHERE excluded.created_at - k.created_at > interval '24 hours'
RETURNING k.key
