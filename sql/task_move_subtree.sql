-- Move the given sub-tasks of one user (a moved task's descendants) to the task's new list.
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
)
UPDATE tasks
SET change_seq = (SELECT seq FROM tick),
    list_id    = %(list_id)s::uuid,
    version    = version + 1,
    updated_at = now()
WHERE user_id = %(user_id)s
  AND id = ANY (%(ids)s::uuid[])
  AND list_id IS DISTINCT FROM %(list_id)s::uuid
