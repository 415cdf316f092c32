-- Empty one user's trash for good: every trashed task and list, each leaving a tombstone for
-- the changes feed stamped with the user's change counter. Returns how many went.
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
      AND deleted_at IS NOT NULL
      AND (SELECT seq FROM tick) > 0
    RETURNING id
),
gone_lists AS (
    DELETE FROM lists
    WHERE user_id = %(user_id)s
      AND deleted_at IS NOT NULL
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
