-- Find users with trash older than the retention (the trash purge's first step). Read-only
-- and across users, on the partial trash indexes; the purge then runs one user at a time
-- (jobs/trash_purge_user).
(SELECT DISTINCT user_id
 FROM tasks
 WHERE deleted_at < now() - make_interval(days => %(retention_days)s)
 LIMIT %(limit)s)
UNION
(SELECT DISTINCT user_id
 FROM lists
 WHERE deleted_at < now() - make_interval(days => %(retention_days)s)
 LIMIT %(limit)s)
