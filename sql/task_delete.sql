-- Delete one task of one user with its sub-tree and return what the task was; no row when
-- there is none.
-- if_versions (If-Match): only while the task's version is one of them; NULL: unconditional.
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits), formatted in the outer SELECT: formatting them here saves
-- building a UUID or datetime object for each value in Python and formatting it again.
WITH RECURSIVE target AS (
    SELECT id, list_id
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(task_id)s
      AND deleted_at IS NULL
      AND (%(if_versions)s::integer[] IS NULL OR version = ANY (%(if_versions)s::integer[]))
),
subtree (id, depth) AS (
    SELECT id, 0
    FROM target
    UNION ALL
    SELECT c.id, s.depth + 1
    FROM subtree AS s, tasks AS c
    WHERE c.user_id = %(user_id)s
      AND c.parent_id = s.id
      AND s.depth < 8
),
deleted AS (
    DELETE FROM tasks AS t
    USING subtree AS s
    WHERE t.user_id = %(user_id)s
      AND t.id = s.id
    RETURNING t.*
)
SELECT deleted.id::text AS id, deleted.user_id, deleted.title, deleted.description, deleted.completed,
       utc_text(deleted.completed_at) AS completed_at,
       deleted.priority,
       utc_text(deleted.due_at) AS due_at,
       deleted.tags, deleted."order", deleted.version,
       utc_text(deleted.created_at) AS created_at,
       utc_text(deleted.updated_at) AS updated_at,
       deleted.recurrence_rule, deleted.recurrence_basis,
       deleted.list_id::text AS list_id, deleted.parent_id::text AS parent_id, deleted.position, deleted.time_zone,
       deleted.due_date,
       utc_text(deleted.deleted_at) AS deleted_at
FROM deleted
WHERE deleted.id = %(task_id)s
