-- Reopen the completed ancestors of a new open sub-task, starting at its parent: a completed
-- task never has an open descendant.
WITH RECURSIVE tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
chain (id, parent_id, depth) AS (
    SELECT id, parent_id, 1
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(parent_id)s
    UNION ALL
    SELECT p.id, p.parent_id, c.depth + 1
    FROM chain AS c, tasks AS p
    WHERE p.user_id = %(user_id)s
      AND p.id = c.parent_id
      AND c.depth < 8
)
UPDATE tasks AS t
SET change_seq    = (SELECT seq FROM tick),
    completed     = false,
    completed_at  = NULL,
    completion_id = NULL,
    version       = t.version + 1,
    updated_at    = now()
FROM chain
WHERE t.user_id = %(user_id)s
  AND t.id = chain.id
  AND t.completed
  AND t.deleted_at IS NULL
