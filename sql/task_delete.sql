-- Delete one task of one user and return what it was; no row when there is none.
DELETE FROM tasks
WHERE user_id = %(user_id)s
  AND id = %(task_id)s
RETURNING id, user_id, title, description, completed, completed_at, priority, due_at,
          tags, "order", version, created_at, updated_at
