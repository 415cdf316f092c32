-- Put one task of one user back on an earlier occurrence (the undo of its latest completion):
-- the due in one of its two forms (due_date_start with it), the wall time and the index the
-- completion record kept. Completion itself is left as it is: reopening a task that the end
-- of its series completed goes through the ordinary reopen, which cascades.
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
)
UPDATE tasks
SET change_seq       = (SELECT seq FROM tick),
    due_at           = %(due_at)s::timestamptz,
    due_date         = %(due_date)s::date,
    due_date_start   = %(due_date_start)s::timestamptz,
    recurrence_wall  = CASE WHEN recurrence_rule IS NULL THEN NULL
                            ELSE %(wall)s::timestamp END,
    recurrence_index = %(index)s::integer,
    version          = version + 1,
    updated_at       = now()
WHERE user_id = %(user_id)s
  AND id = %(task_id)s
