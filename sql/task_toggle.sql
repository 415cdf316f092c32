-- Flip one task's completed flag (completed_at follows) and return it.
-- if_versions (If-Match): only while the version is one of them; NULL means unconditional.
-- In SET, the right-hand side sees the row before the update. completion_time, not a CASE
-- around now(): Citus refuses a non-IMMUTABLE function inside CASE/COALESCE of an UPDATE.
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits): formatting them here saves building a UUID or datetime
-- object for each value in Python and formatting it again. utc_text, not to_char: Citus
-- takes only IMMUTABLE functions in a write's RETURNING (migration 0006).
UPDATE tasks
SET completed    = NOT completed,
    completed_at = completion_time(NOT completed, completed_at, now()),
    version      = version + 1,
    updated_at   = now()
WHERE user_id = %(user_id)s
  AND id = %(task_id)s
  AND (%(if_versions)s::integer[] IS NULL OR version = ANY (%(if_versions)s::integer[]))
RETURNING id::text AS id, user_id, title, description, completed,
          utc_text(completed_at) AS completed_at,
          priority,
          utc_text(due_at) AS due_at,
          tags, "order", version,
          utc_text(created_at) AS created_at,
          utc_text(updated_at) AS updated_at
