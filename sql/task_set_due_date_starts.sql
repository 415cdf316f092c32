-- Store new day starts of some of one user's all-day tasks (after the user's zone changed).
-- The start is an ordering key, not part of what the task shows: version does not move.
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
)
UPDATE tasks AS t
SET change_seq     = (SELECT seq FROM tick),
    due_date_start = v.due_date_start
FROM unnest(%(ids)s::uuid[], %(starts)s::timestamptz[]) AS v (id, due_date_start)
WHERE t.user_id = %(user_id)s
  AND t.id = v.id
