-- The open recurring tasks of one user, locked in id order (a bulk completion completes the
-- current occurrence of each; the order keeps two such bulks from deadlocking). It takes the
-- user's change counter first, as every write does (see task_place).
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
)
SELECT id
FROM tasks
WHERE user_id = %(user_id)s
  AND recurrence_rule IS NOT NULL
  AND NOT completed
  AND deleted_at IS NULL
  -- A one-time filter: the counter is locked before the task rows (docs/sync.md).
  AND (SELECT seq FROM tick) > 0
ORDER BY id
FOR UPDATE
