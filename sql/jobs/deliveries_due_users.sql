-- Find users with webhook deliveries due now to enabled webhooks, the longest-waiting first
-- (the claim's first step; a disabled webhook's pending deliveries wait for it to be turned
-- back on, and must not crowd out other users meanwhile). Read-only and across users: on
-- Citus a multi-shard read, joined on the distribution column, that locks nothing; the claim
-- then runs one user at a time (jobs/deliveries_claim).
SELECT d.user_id
FROM webhook_deliveries d
JOIN webhooks w ON w.user_id = d.user_id AND w.id = d.webhook_id
WHERE d.status = 'pending'
  AND d.next_attempt_at <= now()
  AND w.enabled
GROUP BY d.user_id
ORDER BY min(d.next_attempt_at)
LIMIT %(limit)s
