-- Create one task for one user; completed_at is set when it is created completed.
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits): formatting them here saves building a UUID or datetime
-- object for each value in Python and formatting it again. utc_text, not to_char: Citus
-- takes only IMMUTABLE functions in a write's RETURNING (migration 0006).
INSERT INTO tasks (user_id, title, description, completed, completed_at,
                   priority, due_at, tags, "order")
VALUES (%(user_id)s, %(title)s, %(description)s, %(completed)s,
        completion_time(%(completed)s, NULL, now()),
        %(priority)s::task_priority, %(due_at)s, %(tags)s::text[], %(order)s)
RETURNING id::text AS id, user_id, title, description, completed,
          utc_text(completed_at) AS completed_at,
          priority,
          utc_text(due_at) AS due_at,
          tags, "order", version,
          utc_text(created_at) AS created_at,
          utc_text(updated_at) AS updated_at
