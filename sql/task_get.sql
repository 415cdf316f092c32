-- One task of one user; no row when the user has no task with this id.
SELECT id, user_id, title, description, completed, completed_at, priority, due_at,
       tags, "order", version, created_at, updated_at
FROM tasks
WHERE user_id = %(user_id)s
  AND id = %(task_id)s
