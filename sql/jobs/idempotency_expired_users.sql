-- Find users who have Idempotency-Key records older than 24 hours (the purge's first step).
-- Read-only and across users (on Citus, a multi-shard read that locks nothing); the purge
-- itself then runs one user at a time (jobs/idempotency_purge_user).
SELECT DISTINCT user_id
FROM idempotency_keys
WHERE created_at < now() - interval '24 hours'
LIMIT %(limit)s
