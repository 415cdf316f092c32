-- Flip the completed flag of one task of one user that has neither a parent nor sub-tasks,
-- and return it: no cascade can apply, so this is the whole toggle in one short statement
-- (the common case). No row when the task is absent, has relatives (then task_toggle runs,
-- with the cascade), is an open recurring task, or if_versions (If-Match) holds none of its
-- versions.
-- completion_time, not a CASE around now(), and utc_text, not to_char: Citus refuses
-- non-IMMUTABLE functions in CASE/COALESCE of a write and in its RETURNING (migration 0006).
-- Outbox: an event per changed task (the task as answered, plus its url) and one delivery
-- per subscribed webhook are written by this same statement, only while the user has an
-- enabled webhook for the type (docs/webhooks.md): a user without one pays one index probe.
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
changed AS (
    UPDATE tasks AS t
    SET change_seq    = (SELECT seq FROM tick),
        completed     = NOT t.completed,
        completed_at  = completion_time(NOT t.completed, t.completed_at, now()),
        completion_id = CASE WHEN t.completed THEN NULL ELSE %(completion_id)s::uuid END,
        version       = t.version + 1,
        updated_at    = now()
    WHERE t.user_id = %(user_id)s
      AND t.id = %(task_id)s
      AND t.deleted_at IS NULL
      AND t.parent_id IS NULL
      AND (%(if_versions)s::integer[] IS NULL OR t.version = ANY (%(if_versions)s::integer[]))
      -- An open recurring task completes an occurrence instead (service/data/recurrence.py).
      AND (t.recurrence_rule IS NULL OR t.completed)
      AND NOT EXISTS (SELECT 1
                      FROM tasks AS c
                      WHERE c.user_id = %(user_id)s
                        AND c.parent_id = t.id)
    RETURNING t.*
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
