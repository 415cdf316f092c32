-- Delete batch `batch_id` of one user's trash for good: its tasks with every trashed task
-- under them (a sub-task trashed earlier, in its own batch, goes with its parent: it could
-- never come back under it), and its lists (their trashed tasks go by the foreign key's
-- cascade). Returns how many tasks and lists the batch named: 0 when it is not in the trash.
WITH RECURSIVE doomed (id, depth) AS (
    SELECT id, 0
    FROM tasks
    WHERE user_id = %(user_id)s
      AND batch_id = %(batch_id)s
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
    RETURNING t.id
),
gone_lists AS (
    DELETE FROM lists
    WHERE user_id = %(user_id)s
      AND batch_id = %(batch_id)s
    RETURNING id
)
SELECT (SELECT count(*) FROM gone_tasks) + (SELECT count(*) FROM gone_lists) AS purged
