-- Move one recurring task of one user on to its next occurrence and reopen its completed
-- descendants, so every occurrence starts with its sub-tasks open. The caller computed the
-- occurrence (service/domain/recurrence.py): its due in one of the two forms (due_date_start
-- with it), its wall time and its index; the task stays open and keeps its id.
-- bump: how much the version moves (0 when the same request already moved it).
-- Children are found through tasks_user_tree_idx (a sub-task is always in its parent's list).
WITH RECURSIVE tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
changed AS (
    UPDATE tasks
    SET change_seq       = (SELECT seq FROM tick),
        due_at           = %(due_at)s::timestamptz,
        due_date         = %(due_date)s::date,
        due_date_start   = %(due_date_start)s::timestamptz,
        recurrence_wall  = %(wall)s::timestamp,
        recurrence_index = %(index)s::integer,
        version          = version + %(bump)s::integer,
        updated_at       = now()
    WHERE user_id = %(user_id)s
      AND id = %(task_id)s
    RETURNING id, list_id, updated_at
),
descendants (id, list_key, depth) AS (
    SELECT c.id, coalesce(c.list_id, '00000000-0000-0000-0000-000000000000'::uuid), 1
    FROM changed, tasks AS c
    WHERE c.user_id = %(user_id)s
      AND coalesce(c.list_id, '00000000-0000-0000-0000-000000000000'::uuid)
          = coalesce(changed.list_id, '00000000-0000-0000-0000-000000000000'::uuid)
      AND coalesce(c.parent_id, '00000000-0000-0000-0000-000000000000'::uuid) = changed.id
    UNION ALL
    SELECT c.id, d.list_key, d.depth + 1
    FROM descendants AS d, tasks AS c
    WHERE c.user_id = %(user_id)s
      AND coalesce(c.list_id, '00000000-0000-0000-0000-000000000000'::uuid) = d.list_key
      AND coalesce(c.parent_id, '00000000-0000-0000-0000-000000000000'::uuid) = d.id
      AND d.depth < 8
),
reopened AS (
    UPDATE tasks AS c
    SET change_seq    = (SELECT seq FROM tick),
        completed     = false,
        completed_at  = NULL,
        completion_id = NULL,
        version       = c.version + 1,
        updated_at    = changed.updated_at
    FROM changed, descendants AS d
    WHERE c.user_id = %(user_id)s
      AND c.id = d.id
      AND c.completed
      AND c.deleted_at IS NULL
    RETURNING c.id
)
SELECT (SELECT count(*) FROM changed) AS changed, (SELECT count(*) FROM reopened) AS reopened
