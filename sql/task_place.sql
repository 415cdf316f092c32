-- Lock one task of one user for a change of place (list, parent, position) and read what the
-- rules need: its place, version, and its sub-tree (the ids and how many levels lie below it).
-- No row when the user has no such task (or it is in the trash). It takes the user's change
-- counter first, as every write does, so that the writes that follow in the transaction never
-- wait for the counter while holding a task row (a deadlock with a one-statement write).
WITH RECURSIVE tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
locked AS (
    SELECT id, list_id, parent_id, position, version, completed
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(task_id)s
      AND deleted_at IS NULL
      -- A one-time filter: the counter is locked before the task row (docs/sync.md).
      AND (SELECT seq FROM tick) > 0
    FOR UPDATE
),
subtree (id, depth) AS (
    SELECT id, 0
    FROM locked
    UNION ALL
    SELECT c.id, s.depth + 1
    FROM subtree AS s, tasks AS c
    WHERE c.user_id = %(user_id)s
      AND c.parent_id = s.id
      AND s.depth < 8
)
SELECT locked.list_id, locked.parent_id, locked.position, locked.version, locked.completed,
       (SELECT max(depth) FROM subtree) AS height,
       (SELECT array_agg(id) FROM subtree WHERE depth > 0) AS descendants
FROM locked
