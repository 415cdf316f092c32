-- Flip one task's completed flag (completed_at follows) and return it.
-- if_versions (If-Match): only while the version is one of them; NULL means unconditional.
-- In SET, the right-hand side sees the row before the update.
UPDATE tasks
SET completed    = NOT completed,
    completed_at = CASE WHEN completed THEN NULL ELSE now() END,
    version      = version + 1,
    updated_at   = now()
WHERE user_id = %(user_id)s
  AND id = %(task_id)s
  AND (%(if_versions)s::integer[] IS NULL OR version = ANY (%(if_versions)s::integer[]))
RETURNING id, user_id, title, description, completed, completed_at, priority, due_at,
          tags, "order", version, created_at, updated_at
