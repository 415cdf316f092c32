-- Apply the given fields to one task of one user, cascade a change of completion to its
-- sub-tree and ancestors (see task_toggle.sql), and return the task.
-- Each field comes with set_<field>: false keeps the stored value (the field was omitted).
-- Only a real change writes: no row comes back when nothing would change (or no such task),
-- so version and updated_at move exactly when a value does.
-- if_versions (If-Match) makes the write conditional on the version in this same statement;
-- NULL means unconditional. list_id, parent_id and position arrive already checked (the
-- parent in the same list, depth, no cycle); moving the sub-tree with its root is
-- task_move_subtree's. due_date_start is computed by the caller from the task's zone.
-- completion_time, not a CASE around now(), and utc_text, not to_char: Citus refuses
-- non-IMMUTABLE functions in CASE/COALESCE of a write and in its RETURNING (migration 0006).
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits), formatted in the outer SELECT: formatting them here saves
-- building a UUID or datetime object for each value in Python and formatting it again.
-- Outbox: an event per changed task (the task as answered, plus its url) and one delivery
-- per subscribed webhook are written by this same statement, only while the user has an
-- enabled webhook for the type (docs/webhooks.md): a user without one pays one index probe.
-- The task's own event: task.completed / task.uncompleted when its completion changed, else
-- task.moved when its place (list, parent or position) did, else task.updated.
WITH RECURSIVE tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
before AS (
    SELECT completion_id, completed, list_id, parent_id, position
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(task_id)s
),
changed AS (
    UPDATE tasks AS t
    SET change_seq    = (SELECT seq FROM tick),
        title         = CASE WHEN p.set_title THEN p.title ELSE t.title END,
        description   = CASE WHEN p.set_description THEN p.description ELSE t.description END,
        completed     = CASE WHEN p.set_completed THEN p.completed ELSE t.completed END,
        completed_at  = completion_time(CASE WHEN p.set_completed THEN p.completed
                                             ELSE t.completed END,
                                        t.completed_at, now()),
        completion_id = CASE WHEN NOT p.set_completed THEN t.completion_id
                         WHEN p.completed THEN coalesce(t.completion_id, p.completion_id) END,
        priority      = CASE WHEN p.set_priority THEN p.priority ELSE t.priority END,
        due_at        = CASE WHEN p.set_due_at THEN p.due_at ELSE t.due_at END,
        tags          = CASE WHEN p.set_tags THEN p.tags ELSE t.tags END,
        "order"       = CASE WHEN p.set_order THEN p."order" ELSE t."order" END,
        list_id       = CASE WHEN p.set_list_id THEN p.list_id ELSE t.list_id END,
        parent_id     = CASE WHEN p.set_parent_id THEN p.parent_id ELSE t.parent_id END,
        position      = CASE WHEN p.set_position THEN p.position ELSE t.position END,
        time_zone     = CASE WHEN p.set_time_zone THEN p.time_zone ELSE t.time_zone END,
        due_date      = CASE WHEN p.set_due_date THEN p.due_date ELSE t.due_date END,
        due_date_start = CASE WHEN p.set_due_date_start THEN p.due_date_start ELSE t.due_date_start END,
        -- recurrence merges: NULL clears it, a rule or a basis alone keeps the other part (a
        -- new rule without a basis starts on "due"). A new rule restarts COUNT; a new rule,
        -- due or zone drops the kept wall time (the next completion reads it from the due).
        recurrence_rule  = CASE WHEN p.clear_recurrence THEN NULL
                                WHEN p.set_recurrence_rule THEN p.recurrence_rule
                                ELSE t.recurrence_rule END,
        recurrence_basis = CASE WHEN p.clear_recurrence THEN NULL
                                WHEN p.set_recurrence_basis THEN p.recurrence_basis
                                WHEN p.set_recurrence_rule THEN coalesce(t.recurrence_basis, 'due')
                                ELSE t.recurrence_basis END,
        recurrence_index = CASE WHEN p.clear_recurrence
                                  OR (p.set_recurrence_rule
                                      AND p.recurrence_rule IS DISTINCT FROM t.recurrence_rule)
                                THEN 0 ELSE t.recurrence_index END,
        recurrence_wall  = CASE WHEN p.clear_recurrence
                                  OR (p.set_recurrence_rule
                                      AND p.recurrence_rule IS DISTINCT FROM t.recurrence_rule)
                                  OR (p.set_due_at AND p.due_at IS DISTINCT FROM t.due_at)
                                  OR (p.set_due_date AND p.due_date IS DISTINCT FROM t.due_date)
                                  OR (p.set_time_zone AND p.time_zone IS DISTINCT FROM t.time_zone)
                                THEN NULL ELSE t.recurrence_wall END,
        version       = t.version + 1,
        updated_at    = now()
    FROM (SELECT %(set_title)s::boolean AS set_title, %(title)s::text AS title,
                 %(set_description)s::boolean AS set_description, %(description)s::text AS description,
                 %(set_completed)s::boolean AS set_completed, %(completed)s::boolean AS completed,
                 %(set_priority)s::boolean AS set_priority, %(priority)s::task_priority AS priority,
                 %(set_due_at)s::boolean AS set_due_at, %(due_at)s::timestamptz AS due_at,
                 %(set_tags)s::boolean AS set_tags, %(tags)s::text[] AS tags,
                 %(set_order)s::boolean AS set_order, %(order)s::integer AS "order",
                 %(set_list_id)s::boolean AS set_list_id, %(list_id)s::uuid AS list_id,
                 %(set_parent_id)s::boolean AS set_parent_id, %(parent_id)s::uuid AS parent_id,
                 %(set_position)s::boolean AS set_position, %(position)s::text AS position,
                 %(set_time_zone)s::boolean AS set_time_zone, %(time_zone)s::text AS time_zone,
                 %(set_due_date)s::boolean AS set_due_date, %(due_date)s::date AS due_date,
                 %(set_due_date_start)s::boolean AS set_due_date_start,
                 %(due_date_start)s::timestamptz AS due_date_start,
                 %(completion_id)s::uuid AS completion_id,
                 %(clear_recurrence)s::boolean AS clear_recurrence,
                 %(set_recurrence_rule)s::boolean AS set_recurrence_rule,
                 %(recurrence_rule)s::text AS recurrence_rule,
                 %(set_recurrence_basis)s::boolean AS set_recurrence_basis,
                 %(recurrence_basis)s::text AS recurrence_basis,
                 %(finish_series)s::boolean AS finish_series) AS p
    WHERE t.user_id = %(user_id)s
      AND t.id = %(task_id)s
      AND t.deleted_at IS NULL
      AND (%(if_versions)s::integer[] IS NULL OR t.version = ANY (%(if_versions)s::integer[]))
      -- Completing an open recurring task completes an occurrence instead (task_toggle.sql).
      AND (t.recurrence_rule IS NULL OR t.completed OR NOT (p.set_completed AND p.completed)
           OR p.finish_series)
      AND (   (p.set_title AND p.title IS DISTINCT FROM t.title)
           OR (p.set_description AND p.description IS DISTINCT FROM t.description)
           OR (p.set_completed AND p.completed IS DISTINCT FROM t.completed)
           OR (p.set_priority AND p.priority IS DISTINCT FROM t.priority)
           OR (p.set_due_at AND p.due_at IS DISTINCT FROM t.due_at)
           OR (p.set_tags AND p.tags IS DISTINCT FROM t.tags)
           OR (p.set_order AND p."order" IS DISTINCT FROM t."order")
           OR (p.set_list_id AND p.list_id IS DISTINCT FROM t.list_id)
           OR (p.set_parent_id AND p.parent_id IS DISTINCT FROM t.parent_id)
           OR (p.set_position AND p.position IS DISTINCT FROM t.position)
           OR (p.set_time_zone AND p.time_zone IS DISTINCT FROM t.time_zone)
           OR (p.set_due_date AND p.due_date IS DISTINCT FROM t.due_date)
           OR (p.clear_recurrence AND t.recurrence_rule IS NOT NULL)
           OR (p.set_recurrence_rule AND p.recurrence_rule IS DISTINCT FROM t.recurrence_rule)
           OR (p.set_recurrence_basis
               AND p.recurrence_basis IS DISTINCT FROM t.recurrence_basis))
    RETURNING t.*
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
           CASE WHEN changed.completed AND NOT before.completed THEN 'task.completed'
                WHEN before.completed AND NOT changed.completed THEN 'task.uncompleted'
                WHEN (changed.list_id, changed.parent_id, changed.position)
                     IS DISTINCT FROM (before.list_id, before.parent_id, before.position)
                THEN 'task.moved'
                ELSE 'task.updated' END AS type
    FROM changed, before
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
