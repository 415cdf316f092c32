-- Flip one task's completed flag (completed_at and completion_id follow), cascade the change
-- to its sub-tree and ancestors, and return the task.
-- if_versions (If-Match): only while the version is one of them; NULL means unconditional.
-- In SET, the right-hand side sees the row before the update. completion_id: a fresh id
-- from the caller, the mark of this completion on the task and on what it closes.
-- completion_time, not a CASE around now(), and utc_text, not to_char: Citus refuses
-- non-IMMUTABLE functions in CASE/COALESCE of a write and in its RETURNING (migration 0006).
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits), formatted in the outer SELECT: formatting them here saves
-- building a UUID or datetime object for each value in Python and formatting it again.
WITH RECURSIVE before AS (
    SELECT completion_id
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(task_id)s
),
changed AS (
    UPDATE tasks
    SET completed     = NOT completed,
        completed_at  = completion_time(NOT completed, completed_at, now()),
        completion_id = CASE WHEN completed THEN NULL ELSE %(completion_id)s::uuid END,
        version       = version + 1,
        updated_at    = now()
    WHERE user_id = %(user_id)s
      AND id = %(task_id)s
      AND deleted_at IS NULL
      AND (%(if_versions)s::integer[] IS NULL OR version = ANY (%(if_versions)s::integer[]))
      -- An open recurring task completes an occurrence instead (service/data/recurrence.py),
      -- which passes finish_series when its series has ended: completed for good.
      AND (recurrence_rule IS NULL OR completed OR %(finish_series)s::boolean)
    RETURNING *
),
-- Cascade (only when the statement changed completion, cascade = true): completing a task
-- closes its open descendants and stamps them with the task's completion_id; reopening it
-- reopens exactly the descendants stamped with the completion_id it had, and reopens its
-- completed ancestors (a completed task never has an open descendant). Children are found
-- through tasks_user_children_idx (migration 0009).
descendants (id, depth) AS (
    SELECT c.id, 1
    FROM changed, tasks AS c
    WHERE %(cascade)s::boolean
      AND c.user_id = %(user_id)s
      AND c.parent_id = changed.id
    UNION ALL
    SELECT c.id, d.depth + 1
    FROM descendants AS d, tasks AS c
    WHERE c.user_id = %(user_id)s
      AND c.parent_id = d.id
      AND d.depth < 8
),
ancestors (id, parent_id, depth) AS (
    SELECT p.id, p.parent_id, 1
    FROM changed, tasks AS p
    WHERE %(cascade)s::boolean AND NOT changed.completed
      AND p.user_id = %(user_id)s AND p.id = changed.parent_id
    UNION ALL
    SELECT p.id, p.parent_id, a.depth + 1
    FROM ancestors AS a, tasks AS p
    WHERE p.user_id = %(user_id)s AND p.id = a.parent_id AND a.depth < 8
),
closed AS (
    UPDATE tasks AS c
    SET completed     = true,
        completed_at  = changed.completed_at,
        completion_id = changed.completion_id,
        version       = c.version + 1,
        updated_at    = changed.updated_at
    FROM changed
    WHERE changed.completed
      AND c.user_id = %(user_id)s
      AND c.id = ANY (ARRAY(SELECT id FROM descendants))
      AND NOT c.completed
      AND c.deleted_at IS NULL
    RETURNING c.id
),
reopened_ancestors AS (
    UPDATE tasks AS c
    SET completed     = false,
        completed_at  = NULL,
        completion_id = NULL,
        version       = c.version + 1,
        updated_at    = changed.updated_at
    FROM changed
    WHERE NOT changed.completed
      AND c.user_id = %(user_id)s
      AND c.id = ANY (ARRAY(SELECT id FROM ancestors))
      AND c.completed
      AND c.deleted_at IS NULL
    RETURNING c.id
),
reopened_descendants AS (
    UPDATE tasks AS c
    SET completed     = false,
        completed_at  = NULL,
        completion_id = NULL,
        version       = c.version + 1,
        updated_at    = changed.updated_at
    FROM changed
    WHERE NOT changed.completed
      AND c.user_id = %(user_id)s
      AND c.id = ANY (ARRAY(SELECT id FROM descendants))
      AND c.completed
      AND c.completion_id = (SELECT completion_id FROM before)
      AND c.deleted_at IS NULL
    RETURNING c.id
)
SELECT changed.id::text AS id, changed.user_id, changed.title, changed.description, changed.completed,
       utc_text(changed.completed_at) AS completed_at,
       changed.priority,
       utc_text(changed.due_at) AS due_at,
       changed.tags, changed."order", changed.version,
       utc_text(changed.created_at) AS created_at,
       utc_text(changed.updated_at) AS updated_at,
       changed.recurrence_rule, changed.recurrence_basis,
       changed.list_id::text AS list_id, changed.parent_id::text AS parent_id, changed.position, changed.time_zone,
       changed.due_date,
       utc_text(changed.deleted_at) AS deleted_at
FROM changed
