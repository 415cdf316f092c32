-- Delete batch `batch_id` of one user's trash for good: its tasks with every trashed task
-- under them (a sub-task trashed earlier, in its own batch, goes with its parent: it could
-- never come back under it) and every task of its lists, and its lists. Each leaves a
-- tombstone for the changes feed, stamped with the user's change counter. Returns how many
-- tasks and lists went: 0 when the batch is not in the trash.
WITH RECURSIVE tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
doomed (id, depth) AS (
    SELECT t.id, 0
    FROM tasks AS t
    WHERE t.user_id = %(user_id)s
      AND (SELECT seq FROM tick) > 0
      AND (t.batch_id = %(batch_id)s
           OR coalesce(t.list_id, '00000000-0000-0000-0000-000000000000'::uuid)
              IN (SELECT l.id FROM lists AS l
                  WHERE l.user_id = %(user_id)s AND l.batch_id = %(batch_id)s))
    UNION ALL
    SELECT c.id, d.depth + 1
    FROM doomed AS d, tasks AS c
    WHERE c.user_id = %(user_id)s
      AND c.parent_id = d.id
      AND c.deleted_at IS NOT NULL
      AND d.depth < 8
),
gone_tasks AS (
    DELETE FROM tasks AS t
    USING (SELECT DISTINCT id FROM doomed) AS d
    WHERE t.user_id = %(user_id)s
      AND t.id = d.id
      AND (SELECT seq FROM tick) > 0
    RETURNING t.id
),
gone_lists AS (
    DELETE FROM lists
    WHERE user_id = %(user_id)s
      AND batch_id = %(batch_id)s
      AND (SELECT seq FROM tick) > 0
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
