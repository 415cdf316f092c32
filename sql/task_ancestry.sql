-- One task of one user as a would-be parent: its list, whether it is completed, its level
-- (1 for a top-level task) and the ids of it and its ancestors. level 0 when there is no
-- such task (or it is in the trash).
WITH RECURSIVE chain (id, parent_id, list_id, completed, depth) AS (
    SELECT id, parent_id, list_id, completed, 1
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(parent_id)s
      AND deleted_at IS NULL
    UNION ALL
    SELECT p.id, p.parent_id, p.list_id, p.completed, c.depth + 1
    FROM chain AS c, tasks AS p
    WHERE p.user_id = %(user_id)s
      AND p.id = c.parent_id
      AND c.depth < 8
)
SELECT (SELECT list_id FROM chain WHERE depth = 1) AS list_id,
       coalesce((SELECT completed FROM chain WHERE depth = 1), false) AS completed,
       count(*) AS level,
       coalesce(array_agg(id), ARRAY[]::uuid[]) AS ids
FROM chain
