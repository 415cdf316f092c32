-- Find users with reminders waiting to fire (or to be marked missed) now, the longest-waiting
-- first: the claim's first step. Reminders of completed or trashed tasks do not fire and do
-- not count. Read-only and across users: on Citus a multi-shard read, joined on the
-- distribution column, that locks nothing; the claim then runs one user at a time
-- (jobs/reminders_claim). `now` is the database's clock, which the claim then uses.
SELECT r.user_id, now() AS now
FROM reminders AS r
JOIN tasks AS t ON t.user_id = r.user_id AND t.id = r.task_id
WHERE r.state IN ('scheduled', 'snoozed')
  AND r.fire_at <= now()
  AND NOT t.completed
  AND t.deleted_at IS NULL
GROUP BY r.user_id
ORDER BY min(r.fire_at)
LIMIT %(limit)s
