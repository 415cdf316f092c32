-- After a change of one task's reminder set (in the same transaction, after its inserts and
-- deletes): store how many it has now, and count the change as the task's. A write that has
-- already changed the task in this transaction set updated_at to now() and moved its
-- version; otherwise (a change of the reminders only) the version moves here, once, and the
-- task takes a new place in the changes feed (docs/sync.md).
-- Outbox: a change of the reminders only is a task.updated (the task as GET answers it, its
-- new reminders included, plus its url), written here only while the user has an enabled
-- webhook for the type (docs/webhooks.md). A write that changed the task too recorded its
-- own event before the reminders were written (that event shows the previous set).
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
before AS (
    -- Not changed yet in this transaction: the reminders alone changed.
    SELECT updated_at <> now() AS alone
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(task_id)s
),
changed AS (
    UPDATE tasks AS t
    SET reminder_count = (SELECT count(*)
                          FROM reminders AS r
                          WHERE r.user_id = %(user_id)s
                            AND r.task_id = %(task_id)s),
        version        = t.version + (t.updated_at <> now())::integer,
        updated_at     = now(),
        change_seq     = (SELECT seq FROM tick)
    WHERE t.user_id = %(user_id)s
      AND t.id = %(task_id)s
    RETURNING t.*
),
hooks AS (
    SELECT id, events FROM webhooks WHERE user_id = %(user_id)s AND enabled
),
typed AS (
    -- Formatted only for a change of the reminders alone while a hook takes task.updated.
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
           utc_text(changed.deleted_at) AS deleted_at
    FROM changed, before
    WHERE before.alone
      AND EXISTS (SELECT FROM hooks WHERE 'task.updated' = ANY (hooks.events))
),
event AS (
    INSERT INTO events (user_id, type, data)
    SELECT %(user_id)s, 'task.updated',
           to_jsonb(typed)
           || jsonb_build_object(
               'url', %(tasks_url)s || '/' || typed.id,
               -- The reminders as task_get shows them: this statement sees the set written
               -- before it in the transaction.
               'reminders', coalesce(
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
                   '[]'::jsonb))
    FROM typed
    RETURNING id, type
),
delivery AS (
    INSERT INTO webhook_deliveries (user_id, webhook_id, event_id, next_attempt_at)
    SELECT %(user_id)s, hooks.id, event.id, now()
    FROM event JOIN hooks ON event.type = ANY (hooks.events)
)
SELECT version, utc_text(updated_at) AS updated_at
FROM changed
