-- Delete up to `limit` of one user's trashed tasks, and up to `limit` trashed lists whose
-- tasks are all gone, deleted longer ago than the retention, oldest first, skipping rows
-- another transaction holds (a restore or a purge in flight). A batch shares one deleted_at,
-- so it goes whole unless it is larger than `limit` (then over consecutive rounds). A list's
-- tasks are taken with it, so each leaves its own tombstone (none goes by the foreign key's
-- cascade). Takes the user's change counter first, as every write does (docs/sync.md). One
-- user per statement: a single-shard statement on Citus. Returns how many went.
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
gone_tasks AS (
    DELETE FROM tasks
    WHERE user_id = %(user_id)s
      AND (SELECT seq FROM tick) > 0
      AND id IN (SELECT t.id
                 FROM tasks AS t
                 WHERE t.user_id = %(user_id)s
                   AND (SELECT seq FROM tick) > 0
                   AND t.deleted_at < now() - make_interval(days => %(retention_days)s)
                 ORDER BY t.deleted_at
                 LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED)
    RETURNING id
),
gone_lists AS (
    DELETE FROM lists
    WHERE user_id = %(user_id)s
      AND (SELECT seq FROM tick) > 0
      AND id IN (SELECT l.id
                 FROM lists AS l
                 WHERE l.user_id = %(user_id)s
                   AND (SELECT seq FROM tick) > 0
                   AND l.deleted_at < now() - make_interval(days => %(retention_days)s)
                   AND NOT EXISTS (SELECT FROM tasks AS t
                                   WHERE t.user_id = %(user_id)s
                                     AND coalesce(t.list_id,
                                                  '00000000-0000-0000-0000-000000000000'::uuid)
                                         = l.id)
                 ORDER BY l.deleted_at
                 LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED)
    RETURNING id
),
tombstones AS (
    INSERT INTO change_tombstones (user_id, kind, id, seq)
    SELECT %(user_id)s, 'task', id, (SELECT seq FROM tick) FROM gone_tasks
    UNION ALL
    SELECT %(user_id)s, 'list', id, (SELECT seq FROM tick) FROM gone_lists
    ON CONFLICT (user_id, kind, id) DO UPDATE SET seq = excluded.seq
    RETURNING id
)
SELECT (SELECT count(*) FROM tombstones) AS purged
