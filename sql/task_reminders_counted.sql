-- After a change of one task's reminder set (in the same transaction, after its inserts and
-- deletes): store how many it has now, and count the change as the task's. A write that has
-- already changed the task in this transaction set updated_at to now() and moved its
-- version; otherwise (a change of the reminders only) the version moves here, once, and the
-- task takes a new place in the changes feed (docs/sync.md).
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
)
UPDATE tasks AS t
SET reminder_count = (SELECT count(*)
                      FROM reminders AS r
                      WHERE r.user_id = %(user_id)s
                        AND r.task_id = %(task_id)s),
    version        = t.version + (t.updated_at <> now())::integer,
    updated_at     = now(),
    change_seq     = (SELECT seq FROM tick)
WHERE t.user_id = %(user_id)s
  AND t.id = %(task_id)s
RETURNING t.version, utc_text(t.updated_at) AS updated_at
