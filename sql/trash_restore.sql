-- Restore batch `batch_id` of one user: its tasks and lists leave the trash, and so does each
-- trashed ancestor of its tasks and each trashed list they are in (from another batch: those
-- come back alone, their batch keeps the rest). Returns how many tasks and lists came back:
-- 0 when the batch is not in the trash (never was, restored or purged).
WITH RECURSIVE tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
batch_tasks AS (
    SELECT id, parent_id, list_id
    FROM tasks
    WHERE user_id = %(user_id)s
      AND batch_id = %(batch_id)s
),
ancestors (id, parent_id, list_id, depth) AS (
    SELECT p.id, p.parent_id, p.list_id, 0
    FROM batch_tasks AS b, tasks AS p
    WHERE p.user_id = %(user_id)s
      AND p.id = b.parent_id
      AND p.deleted_at IS NOT NULL
    UNION ALL
    SELECT p.id, p.parent_id, p.list_id, a.depth + 1
    FROM ancestors AS a, tasks AS p
    WHERE p.user_id = %(user_id)s
      AND p.id = a.parent_id
      AND p.deleted_at IS NOT NULL
      AND a.depth < 8
),
restored_tasks AS (
    UPDATE tasks AS t
    SET change_seq = (SELECT seq FROM tick),
        deleted_at = NULL,
        batch_id = NULL
    WHERE t.user_id = %(user_id)s
      AND t.deleted_at IS NOT NULL
      AND t.id IN (SELECT id FROM batch_tasks UNION SELECT id FROM ancestors)
    RETURNING t.id
),
restored_lists AS (
    UPDATE lists AS l
    SET change_seq = (SELECT seq FROM tick),
        deleted_at = NULL,
        batch_id = NULL
    WHERE l.user_id = %(user_id)s
      AND l.deleted_at IS NOT NULL
      AND (l.batch_id = %(batch_id)s
           OR l.id IN (SELECT list_id FROM batch_tasks UNION SELECT list_id FROM ancestors))
    RETURNING l.id
)
SELECT (SELECT count(*) FROM restored_tasks) + (SELECT count(*) FROM restored_lists) AS restored
