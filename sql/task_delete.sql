-- Move one live task of one user with its live sub-tree to the trash as batch `batch_id` and
-- return what the task is now (deleted_at and batch_id set); no row when there is none. A
-- sub-task already in the trash stays in its own batch.
-- if_versions (If-Match): only while the task's version is one of them; NULL: unconditional.
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
target AS (
    SELECT id
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
      AND c.deleted_at IS NULL
      AND s.depth < 8
),
deleted AS (
    UPDATE tasks AS t
    SET change_seq = (SELECT seq FROM tick),
        deleted_at = now(),
        batch_id   = %(batch_id)s
    FROM subtree AS s
    WHERE t.user_id = %(user_id)s
      AND t.id = s.id
      AND t.deleted_at IS NULL
    RETURNING t.*
),
typed AS (
    SELECT deleted.id::text AS id, deleted.user_id, deleted.title, deleted.description, deleted.completed,
           utc_text(deleted.completed_at) AS completed_at,
           deleted.priority,
           utc_text(deleted.due_at) AS due_at,
           deleted.tags, deleted."order", deleted.version,
           utc_text(deleted.created_at) AS created_at,
           utc_text(deleted.updated_at) AS updated_at,
           deleted.recurrence_rule, deleted.recurrence_basis,
           CASE WHEN deleted.recurrence_rule IS NOT NULL
                THEN jsonb_build_object('rule', deleted.recurrence_rule,
                                        'basis', deleted.recurrence_basis) END AS recurrence,
           deleted.list_id::text AS list_id, deleted.parent_id::text AS parent_id, deleted.position,
           deleted.time_zone, deleted.due_date,
           utc_text(deleted.deleted_at) AS deleted_at,
           deleted.batch_id::text AS batch_id,
           deleted.reminder_count,
           'task.deleted' AS type
    FROM deleted
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
       parent_id, position, time_zone, due_date, deleted_at, batch_id
FROM typed
WHERE id = %(task_id)s::text
