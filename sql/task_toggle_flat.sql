-- Flip the completed flag of one task of one user that has neither a parent nor sub-tasks,
-- and return it: no cascade can apply, so this is the whole toggle in one short statement
-- (the common case). No row when the task is absent, has relatives (then task_toggle runs,
-- with the cascade), is an open recurring task, or if_versions (If-Match) holds none of its
-- versions.
-- completion_time, not a CASE around now(), and utc_text, not to_char: Citus refuses
-- non-IMMUTABLE functions in CASE/COALESCE of a write and in its RETURNING (migration 0006).
UPDATE tasks AS t
SET completed     = NOT t.completed,
    completed_at  = completion_time(NOT t.completed, t.completed_at, now()),
    completion_id = CASE WHEN t.completed THEN NULL ELSE %(completion_id)s::uuid END,
    version       = t.version + 1,
    updated_at    = now()
WHERE t.user_id = %(user_id)s
  AND t.id = %(task_id)s
  AND t.deleted_at IS NULL
  AND t.parent_id IS NULL
  AND (%(if_versions)s::integer[] IS NULL OR t.version = ANY (%(if_versions)s::integer[]))
  -- An open recurring task completes an occurrence instead (service/data/recurrence.py).
  AND (t.recurrence_rule IS NULL OR t.completed)
  AND NOT EXISTS (SELECT 1
                  FROM tasks AS c
                  WHERE c.user_id = %(user_id)s
                    AND c.parent_id = t.id)
RETURNING t.id::text AS id, t.user_id, t.title, t.description, t.completed,
          utc_text(t.completed_at) AS completed_at,
          t.priority,
          utc_text(t.due_at) AS due_at,
          t.tags, t."order", t.version,
          utc_text(t.created_at) AS created_at,
          utc_text(t.updated_at) AS updated_at,
          t.recurrence_rule, t.recurrence_basis,
          t.list_id::text AS list_id, t.parent_id::text AS parent_id, t.position, t.time_zone,
          t.due_date,
          utc_text(t.deleted_at) AS deleted_at
