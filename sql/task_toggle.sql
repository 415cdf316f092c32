-- Flip one task's completed flag (completed_at follows) and return it.
-- if_versions (If-Match): only while the version is one of them; NULL means unconditional.
-- In SET, the right-hand side sees the row before the update.
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits): formatting them here saves building a UUID or datetime
-- object for each value in Python and formatting it again.
UPDATE tasks
SET completed    = NOT completed,
    completed_at = CASE WHEN completed THEN NULL ELSE now() END,
    version      = version + 1,
    updated_at   = now()
WHERE user_id = %(user_id)s
  AND id = %(task_id)s
  AND (%(if_versions)s::integer[] IS NULL OR version = ANY (%(if_versions)s::integer[]))
RETURNING id::text AS id, user_id, title, description, completed,
          to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS completed_at,
          priority,
          to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS due_at,
          tags, "order", version,
          to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
          to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at
