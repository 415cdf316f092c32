-- Find users with outbox events older than the retention (the purge's first step). Read-only
-- and across users (on Citus, a multi-shard read that locks nothing); the purge itself then
-- runs one user at a time (jobs/events_purge_user).
SELECT DISTINCT user_id
FROM events
WHERE occurred_at < now() - make_interval(days => %(retention_days)s)
LIMIT %(limit)s
