-- Delete up to `limit` of one user's trashed tasks, and up to `limit` trashed lists, deleted
-- longer ago than the retention, oldest first, skipping rows another transaction holds (a
-- restore or a purge in flight). A batch shares one deleted_at, so it goes whole unless it
-- is larger than `limit` (then over consecutive rounds). One user per statement: a
-- single-shard statement on Citus. Returns how many went.
WITH gone_tasks AS (
    DELETE FROM tasks
    WHERE user_id = %(user_id)s
      AND id IN (SELECT id
                 FROM tasks
                 WHERE user_id = %(user_id)s
                   AND deleted_at < now() - make_interval(days => %(retention_days)s)
                 ORDER BY deleted_at
                 LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED)
    RETURNING id
),
gone_lists AS (
    DELETE FROM lists
    WHERE user_id = %(user_id)s
      AND id IN (SELECT id
                 FROM lists
                 WHERE user_id = %(user_id)s
                   AND deleted_at < now() - make_interval(days => %(retention_days)s)
                 ORDER BY deleted_at
                 LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED)
    RETURNING id
)
SELECT (SELECT count(*) FROM gone_tasks) + (SELECT count(*) FROM gone_lists) AS purged
