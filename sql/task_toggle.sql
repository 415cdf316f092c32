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
-- Outbox: an event per changed task (the task as answered, plus its url) and one delivery
-- per subscribed webhook are written by this same statement, only while the user has an
-- enabled webhook for the type (docs/webhooks.md): a user without one pays one index probe.
WITH RECURSIVE tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
before AS (
    SELECT completion_id
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(task_id)s
),
changed AS (
    UPDATE tasks
    SET change_seq    = (SELECT seq FROM tick),
        completed     = NOT completed,
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
    SET change_seq    = (SELECT seq FROM tick),
        completed     = true,
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
    RETURNING c.*
),
reopened_ancestors AS (
    UPDATE tasks AS c
    SET change_seq    = (SELECT seq FROM tick),
        completed     = false,
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
    RETURNING c.*
),
reopened_descendants AS (
    UPDATE tasks AS c
    SET change_seq    = (SELECT seq FROM tick),
        completed     = false,
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
    RETURNING c.*
),
typed AS (
    SELECT changed.id::text AS id, changed.user_id, changed.title, changed.description, changed.completed,
           utc_text(changed.completed_at) AS completed_at,
           changed.priority,
           utc_text(changed.due_at) AS due_at,
           changed.tags, changed."order", changed.version,
           utc_text(changed.created_at) AS created_at,
           utc_text(changed.updated_at) AS updated_at,
           changed.recurrence_rule, changed.recurrence_basis,
           CASE WHEN changed.recurrence_rule IS NOT NULL
                THEN jsonb_build_object('rule', changed.recurrence_rule,
                                        'basis', changed.recurrence_basis) END AS recurrence,
           changed.list_id::text AS list_id, changed.parent_id::text AS parent_id, changed.position,
           changed.time_zone, changed.due_date,
           utc_text(changed.deleted_at) AS deleted_at,
           changed.reminder_count,
           CASE WHEN changed.completed THEN 'task.completed' ELSE 'task.uncompleted' END AS type
    FROM changed
    UNION ALL
    SELECT closed.id::text AS id, closed.user_id, closed.title, closed.description, closed.completed,
           utc_text(closed.completed_at) AS completed_at,
           closed.priority,
           utc_text(closed.due_at) AS due_at,
           closed.tags, closed."order", closed.version,
           utc_text(closed.created_at) AS created_at,
           utc_text(closed.updated_at) AS updated_at,
           closed.recurrence_rule, closed.recurrence_basis,
           CASE WHEN closed.recurrence_rule IS NOT NULL
                THEN jsonb_build_object('rule', closed.recurrence_rule,
                                        'basis', closed.recurrence_basis) END AS recurrence,
           closed.list_id::text AS list_id, closed.parent_id::text AS parent_id, closed.position,
           closed.time_zone, closed.due_date,
           utc_text(closed.deleted_at) AS deleted_at,
           closed.reminder_count,
           'task.completed'
    FROM closed
    UNION ALL
    SELECT reopened_ancestors.id::text AS id, reopened_ancestors.user_id, reopened_ancestors.title, reopened_ancestors.description, reopened_ancestors.completed,
           utc_text(reopened_ancestors.completed_at) AS completed_at,
           reopened_ancestors.priority,
           utc_text(reopened_ancestors.due_at) AS due_at,
           reopened_ancestors.tags, reopened_ancestors."order", reopened_ancestors.version,
           utc_text(reopened_ancestors.created_at) AS created_at,
           utc_text(reopened_ancestors.updated_at) AS updated_at,
           reopened_ancestors.recurrence_rule, reopened_ancestors.recurrence_basis,
           CASE WHEN reopened_ancestors.recurrence_rule IS NOT NULL
                THEN jsonb_build_object('rule', reopened_ancestors.recurrence_rule,
                                        'basis', reopened_ancestors.recurrence_basis) END AS recurrence,
           reopened_ancestors.list_id::text AS list_id, reopened_ancestors.parent_id::text AS parent_id, reopened_ancestors.position,
           reopened_ancestors.time_zone, reopened_ancestors.due_date,
           utc_text(reopened_ancestors.deleted_at) AS deleted_at,
           reopened_ancestors.reminder_count,
           'task.uncompleted'
    FROM reopened_ancestors
    UNION ALL
    SELECT reopened_descendants.id::text AS id, reopened_descendants.user_id, reopened_descendants.title, reopened_descendants.description, reopened_descendants.completed,
           utc_text(reopened_descendants.completed_at) AS completed_at,
           reopened_descendants.priority,
           utc_text(reopened_descendants.due_at) AS due_at,
           reopened_descendants.tags, reopened_descendants."order", reopened_descendants.version,
           utc_text(reopened_descendants.created_at) AS created_at,
           utc_text(reopened_descendants.updated_at) AS updated_at,
           reopened_descendants.recurrence_rule, reopened_descendants.recurrence_basis,
           CASE WHEN reopened_descendants.recurrence_rule IS NOT NULL
                THEN jsonb_build_object('rule', reopened_descendants.recurrence_rule,
                                        'basis', reopened_descendants.recurrence_basis) END AS recurrence,
           reopened_descendants.list_id::text AS list_id, reopened_descendants.parent_id::text AS parent_id, reopened_descendants.position,
           reopened_descendants.time_zone, reopened_descendants.due_date,
           utc_text(reopened_descendants.deleted_at) AS deleted_at,
           reopened_descendants.reminder_count,
           'task.uncompleted'
    FROM reopened_descendants
),
hooks AS (
    SELECT id, events FROM webhooks WHERE user_id = %(user_id)s AND enabled
),
event AS (
    INSERT INTO events (user_id, type, data)
    SELECT %(user_id)s, typed.type,
           to_jsonb(typed) - 'type' - 'recurrence_rule' - 'recurrence_basis' - 'reminder_count'
           || jsonb_build_object(
               'url', %(tasks_url)s || '/' || typed.id,
               -- The task's reminders as task_get shows them: [] without a read when it has
               -- none (reminder_count, most tasks), else one probe of reminders_user_task_idx.
               'reminders', CASE WHEN typed.reminder_count = 0 THEN '[]'::jsonb
                                 ELSE coalesce(
                   (SELECT jsonb_agg(CASE WHEN r.at IS NULL
                                          THEN jsonb_build_object('before_due', r.before_due)
                                          ELSE jsonb_build_object('at', utc_text(r.at))
                                     END || jsonb_build_object(
                                         'id', r.id,
                                         'fire_at', utc_text(r.fire_at),
                                         'state', r.state,
                                         'fired_at', utc_text(r.fired_at))
                                     ORDER BY r.created_at, r.id)
                    FROM reminders AS r
                    WHERE r.user_id = %(user_id)s
                      AND r.task_id = typed.id::uuid),
                   '[]'::jsonb) END)
    FROM typed
    WHERE EXISTS (SELECT FROM hooks WHERE typed.type = ANY (hooks.events))
    RETURNING id, type
),
delivery AS (
    INSERT INTO webhook_deliveries (user_id, webhook_id, event_id, next_attempt_at)
    SELECT %(user_id)s, hooks.id, event.id, now()
    FROM event JOIN hooks ON event.type = ANY (hooks.events)
)
SELECT id, user_id, title, description, completed, completed_at, priority, due_at, tags,
       "order", version, created_at, updated_at, recurrence_rule, recurrence_basis, list_id,
       parent_id, position, time_zone, due_date, deleted_at, reminder_count
FROM typed
WHERE id = %(task_id)s::text
