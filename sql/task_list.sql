-- A user's tasks in the default order (creation time, then id), at most %(limit)s of them.
SELECT id, user_id, title, description, completed, completed_at, priority, due_at,
       tags, "order", version, created_at, updated_at
FROM tasks
WHERE user_id = %(user_id)s
ORDER BY created_at, id
LIMIT %(limit)s
