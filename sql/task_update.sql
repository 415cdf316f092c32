-- Apply the given fields to one task of one user and return it.
-- Each field comes with set_<field>: false keeps the stored value (the field was omitted).
-- Only a real change writes: no row comes back when nothing would change (or no such task),
-- so version and updated_at move exactly when a value does.
-- if_versions (If-Match) makes the write conditional on the version in this same statement;
-- NULL means unconditional. completed_at: completion_time, not a CASE around now() (Citus
-- refuses a non-IMMUTABLE function inside CASE/COALESCE of an UPDATE).
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits): formatting them here saves building a UUID or datetime
-- object for each value in Python and formatting it again. utc_text, not to_char: Citus
-- takes only IMMUTABLE functions in a write's RETURNING (migration 0006).
UPDATE tasks AS t
SET title        = CASE WHEN p.set_title THEN p.title ELSE t.title END,
    description  = CASE WHEN p.set_description THEN p.description ELSE t.description END,
    completed    = CASE WHEN p.set_completed THEN p.completed ELSE t.completed END,
    completed_at = completion_time(CASE WHEN p.set_completed THEN p.completed ELSE t.completed END,
                                   t.completed_at, now()),
    priority     = CASE WHEN p.set_priority THEN p.priority ELSE t.priority END,
    due_at       = CASE WHEN p.set_due_at THEN p.due_at ELSE t.due_at END,
    tags         = CASE WHEN p.set_tags THEN p.tags ELSE t.tags END,
    "order"      = CASE WHEN p.set_order THEN p."order" ELSE t."order" END,
    version      = t.version + 1,
    updated_at   = now()
FROM (SELECT %(set_title)s::boolean AS set_title, %(title)s::text AS title,
             %(set_description)s::boolean AS set_description, %(description)s::text AS description,
             %(set_completed)s::boolean AS set_completed, %(completed)s::boolean AS completed,
             %(set_priority)s::boolean AS set_priority, %(priority)s::task_priority AS priority,
             %(set_due_at)s::boolean AS set_due_at, %(due_at)s::timestamptz AS due_at,
             %(set_tags)s::boolean AS set_tags, %(tags)s::text[] AS tags,
             %(set_order)s::boolean AS set_order, %(order)s::integer AS "order") AS p
WHERE t.user_id = %(user_id)s
  AND t.id = %(task_id)s
  AND (%(if_versions)s::integer[] IS NULL OR t.version = ANY (%(if_versions)s::integer[]))
  AND (   (p.set_title AND p.title IS DISTINCT FROM t.title)
       OR (p.set_description AND p.description IS DISTINCT FROM t.description)
       OR (p.set_completed AND p.completed IS DISTINCT FROM t.completed)
       OR (p.set_priority AND p.priority IS DISTINCT FROM t.priority)
       OR (p.set_due_at AND p.due_at IS DISTINCT FROM t.due_at)
       OR (p.set_tags AND p.tags IS DISTINCT FROM t.tags)
       OR (p.set_order AND p."order" IS DISTINCT FROM t."order"))
RETURNING t.id::text AS id, t.user_id, t.title, t.description, t.completed,
          utc_text(t.completed_at) AS completed_at,
          t.priority,
          utc_text(t.due_at) AS due_at,
          t.tags, t."order", t.version,
          utc_text(t.created_at) AS created_at,
          utc_text(t.updated_at) AS updated_at
