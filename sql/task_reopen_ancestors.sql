-- Reopen the completed ancestors of a new open sub-task, starting at its parent: a completed
-- task never has an open descendant.
-- Outbox: a task.uncompleted event per ancestor reopened (the task as GET answers it, plus
-- its url) and one delivery per subscribed webhook, written by this same statement only
-- while the user has an enabled webhook for the type (docs/webhooks.md).
WITH RECURSIVE tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
chain (id, parent_id, depth) AS (
    SELECT id, parent_id, 1
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(parent_id)s
    UNION ALL
    SELECT p.id, p.parent_id, c.depth + 1
    FROM chain AS c, tasks AS p
    WHERE p.user_id = %(user_id)s
      AND p.id = c.parent_id
      AND c.depth < 8
),
changed AS (
    UPDATE tasks AS t
    SET change_seq    = (SELECT seq FROM tick),
        completed     = false,
        completed_at  = NULL,
        completion_id = NULL,
        version       = t.version + 1,
        updated_at    = now()
    FROM chain
    WHERE t.user_id = %(user_id)s
      AND t.id = chain.id
      AND t.completed
      AND t.deleted_at IS NULL
    RETURNING t.*
),
hooks AS (
    SELECT id, events FROM webhooks WHERE user_id = %(user_id)s AND enabled
),
typed AS (
    -- Formatted only while a hook takes task.uncompleted (a one-time filter).
    SELECT changed.id::text AS id, changed.user_id, changed.title, changed.description, changed.completed,
           utc_text(changed.completed_at) AS completed_at,
           changed.priority,
           utc_text(changed.due_at) AS due_at,
           changed.tags, changed."order", changed.version,
           utc_text(changed.created_at) AS created_at,
           utc_text(changed.updated_at) AS updated_at,
           CASE WHEN changed.recurrence_rule IS NOT NULL
                THEN jsonb_build_object('rule', changed.recurrence_rule,
                                        'basis', changed.recurrence_basis) END AS recurrence,
           changed.list_id::text AS list_id, changed.parent_id::text AS parent_id, changed.position,
           changed.time_zone, changed.due_date,
           utc_text(changed.deleted_at) AS deleted_at,
           changed.reminder_count
    FROM changed
    WHERE EXISTS (SELECT FROM hooks WHERE 'task.uncompleted' = ANY (hooks.events))
),
event AS (
    INSERT INTO events (user_id, type, data)
    SELECT %(user_id)s, 'task.uncompleted',
           to_jsonb(typed) - 'reminder_count'
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
    RETURNING id, type
)
INSERT INTO webhook_deliveries (user_id, webhook_id, event_id, next_attempt_at)
SELECT %(user_id)s, hooks.id, event.id, now()
FROM event JOIN hooks ON event.type = ANY (hooks.events)
