-- Find users with webhook deliveries due now, the longest-waiting first (the claim's first
-- step). Read-only and across users (on Citus, a multi-shard read that locks nothing); the
-- claim then runs one user at a time (jobs/deliveries_claim).
SELECT user_id
FROM webhook_deliveries
WHERE status = 'pending'
  AND next_attempt_at <= now()
GROUP BY user_id
ORDER BY min(next_attempt_at)
LIMIT %(limit)s
