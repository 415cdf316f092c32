-- Flip one task's completed flag (completed_at follows) and return it.
-- In SET, the right-hand side sees the row before the update.
UPDATE tasks
SET completed    = NOT completed,
    completed_at = CASE WHEN completed THEN NULL ELSE now() END,
    version      = version + 1,
    updated_at   = now()
WHERE user_id = %(user_id)s
  AND id = %(task_id)s
RETURNING id, user_id, title, description, completed, completed_at, priority, due_at,
          tags, "order", version, created_at, updated_at
