-- Find users with change tombstones older than the retention (the tombstone purge's first
-- step). Read-only and across users, on the tombstones' age index; the purge itself then runs
-- one user at a time (jobs/tombstones_purge_user).
SELECT DISTINCT user_id
FROM change_tombstones
WHERE deleted_at < now() - make_interval(days => %(retention_days)s)
LIMIT %(limit)s
