-- Move every live task of one user that matches the status filter (NULL: all of them) to the
-- trash as batch `batch_id`, each with its live sub-tree (a pending task's completed
-- sub-tasks go with it). The count includes the sub-tasks. With no filter every live task
-- matches, so no sub-tree needs walking.
-- Answers how many tasks changed (`changed`). Outbox: an event per changed task (the task as answered, plus its url) and one delivery
-- per subscribed webhook are written by this same statement, only while the user has an
-- enabled webhook for the type (docs/webhooks.md): a user without one pays one index probe.
WITH RECURSIVE tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
matching AS (
    SELECT id
    FROM tasks
    WHERE user_id = %(user_id)s
      AND (%(completed)s::boolean IS NULL OR completed = %(completed)s::boolean)
      AND deleted_at IS NULL
),
subtree (id, depth) AS (
    SELECT id, 0
    FROM matching
    UNION ALL
    SELECT c.id, s.depth + 1
    FROM subtree AS s, tasks AS c
    WHERE %(completed)s::boolean IS NOT NULL
      AND c.user_id = %(user_id)s
      AND c.parent_id = s.id
      AND c.deleted_at IS NULL
      AND s.depth < 8
),
changed AS (
    UPDATE tasks AS t
    SET change_seq = (SELECT seq FROM tick),
        deleted_at = now(),
        batch_id   = %(batch_id)s
    FROM (SELECT DISTINCT id FROM subtree) AS s
    WHERE t.user_id = %(user_id)s
      AND t.id = s.id
      AND t.deleted_at IS NULL
    RETURNING t.*
),
hooks AS (
    SELECT id, events FROM webhooks WHERE user_id = %(user_id)s AND enabled
),
typed AS (
    -- Formatted only while the user has a webhook at all (a one-time filter).
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
           changed.batch_id::text AS batch_id,
           changed.reminder_count,
           'task.deleted' AS type
    FROM changed
    WHERE EXISTS (SELECT FROM hooks)
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
SELECT count(*) AS changed FROM changed
