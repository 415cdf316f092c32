-- Delete every task of one user that matches the status filter (NULL: all of them), each with
-- its sub-tree (a pending task's completed sub-tasks go with it). The row count includes the
-- sub-tasks. With no filter every task matches, so no sub-tree needs walking.
WITH RECURSIVE matching AS (
    SELECT id, list_id
    FROM tasks
    WHERE user_id = %(user_id)s
      AND (%(completed)s::boolean IS NULL OR completed = %(completed)s::boolean)
      AND deleted_at IS NULL
),
subtree (id, depth) AS (
    SELECT id, 0
    FROM matching
    UNION ALL
    SELECT c.id, s.depth + 1
    FROM subtree AS s, tasks AS c
    WHERE %(completed)s::boolean IS NOT NULL
      AND c.user_id = %(user_id)s
      AND c.parent_id = s.id
      AND s.depth < 8
)
DELETE FROM tasks AS t
USING (SELECT DISTINCT id FROM subtree) AS s
WHERE t.user_id = %(user_id)s
  AND t.id = s.id
