-- Create one task for one user; completed_at is set when it is created completed.
INSERT INTO tasks (user_id, title, description, completed, completed_at,
                   priority, due_at, tags, "order")
VALUES (%(user_id)s, %(title)s, %(description)s, %(completed)s,
        CASE WHEN %(completed)s THEN now() END,
        %(priority)s::task_priority, %(due_at)s, %(tags)s::text[], %(order)s)
RETURNING id, user_id, title, description, completed, completed_at, priority, due_at,
          tags, "order", version, created_at, updated_at
