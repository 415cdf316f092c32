-- Create one task for one user; completed_at is set when it is created completed.
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits): formatting them here saves building a UUID or datetime
-- object for each value in Python and formatting it again.
INSERT INTO tasks (user_id, title, description, completed, completed_at,
                   priority, due_at, tags, "order")
VALUES (%(user_id)s, %(title)s, %(description)s, %(completed)s,
        CASE WHEN %(completed)s THEN now() END,
        %(priority)s::task_priority, %(due_at)s, %(tags)s::text[], %(order)s)
RETURNING id::text AS id, user_id, title, description, completed,
          to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS completed_at,
          priority,
          to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS due_at,
          tags, "order", version,
          to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
          to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at
