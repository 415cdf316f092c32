-- Create one task for one user; completed_at is set when it is created completed.
-- list_id, parent_id and position arrive already checked (the parent in the same list,
-- depth); due_date_start is computed by the caller from the task's zone.
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits): formatting them here saves building a UUID or datetime
-- object for each value in Python and formatting it again. utc_text, not to_char: Citus
-- takes only IMMUTABLE functions in a write's RETURNING (migration 0006).
INSERT INTO tasks (user_id, title, description, completed, completed_at, completion_id,
                   priority, due_at, tags, "order", list_id, parent_id, position,
                   time_zone, due_date, due_date_start, recurrence_rule, recurrence_basis)
VALUES (%(user_id)s, %(title)s, %(description)s, %(completed)s,
        completion_time(%(completed)s, NULL, now()), %(completion_id)s::uuid,
        %(priority)s::task_priority, %(due_at)s, %(tags)s::text[], %(order)s,
        %(list_id)s::uuid, %(parent_id)s::uuid, %(position)s, %(time_zone)s,
        %(due_date)s::date, %(due_date_start)s::timestamptz,
        %(recurrence_rule)s, %(recurrence_basis)s)
RETURNING id::text AS id, user_id, title, description, completed,
          utc_text(completed_at) AS completed_at,
          priority,
          utc_text(due_at) AS due_at,
          tags, "order", version,
          utc_text(created_at) AS created_at,
          utc_text(updated_at) AS updated_at,
          recurrence_rule, recurrence_basis,
          list_id::text AS list_id, parent_id::text AS parent_id, position, time_zone, due_date,
          utc_text(deleted_at) AS deleted_at
