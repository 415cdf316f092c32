-- Claim one user's Idempotency-Key for this transaction and read what it stored, if anything.
-- The transaction-scoped advisory lock on (user, key) marks the request as in progress until
-- commit or rollback: a duplicate arriving meanwhile gets acquired = false at once instead of
-- waiting. A record older than 24 hours is expired and ignored. No row of idempotency_keys is
-- locked or written here; idempotency_save writes the record when the request succeeded.
WITH lock AS MATERIALIZED (
    SELECT pg_try_advisory_xact_lock(hashtextextended(%(user_id)s || ' ' || %(key)s, 0)) AS acquired
)
SELECT lock.acquired, k.fingerprint, k.status, k.headers, k.body
FROM lock
LEFT JOIN LATERAL (
    SELECT fingerprint, status, headers, body
    FROM idempotency_keys
    WHERE user_id = %(user_id)s
      AND key = %(key)s
      AND created_at >= now() - interval '24 hours'
      AND lock.acquired
) AS k ON true
