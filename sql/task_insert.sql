-- Create one task for one user; completed_at is set when it is created completed.
-- list_id, parent_id and position arrive already checked (the parent in the same list,
-- depth); due_date_start is computed by the caller from the task's zone.
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits): formatting them here saves building a UUID or datetime
-- object for each value in Python and formatting it again. utc_text, not to_char: Citus
-- takes only IMMUTABLE functions in a write's RETURNING (migration 0006).
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
    INSERT INTO tasks (user_id, title, description, completed, completed_at, completion_id,
                       priority, due_at, tags, "order", list_id, parent_id, position,
                       time_zone, due_date, due_date_start, recurrence_rule, recurrence_basis,
                       change_seq)
    -- INSERT ... SELECT FROM tick, not a subquery in VALUES, which Citus refuses.
    SELECT %(user_id)s, %(title)s, %(description)s, %(completed)s,
           completion_time(%(completed)s, NULL, now()), %(completion_id)s::uuid,
           %(priority)s::task_priority, %(due_at)s, %(tags)s::text[], %(order)s,
           %(list_id)s::uuid, %(parent_id)s::uuid, %(position)s, %(time_zone)s,
           %(due_date)s::date, %(due_date_start)s::timestamptz,
           %(recurrence_rule)s, %(recurrence_basis)s, tick.seq
    FROM tick
    RETURNING *
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
           'task.created' AS type
    FROM changed
),
hooks AS (
    SELECT id, events FROM webhooks WHERE user_id = %(user_id)s AND enabled
),
event AS (
    INSERT INTO events (user_id, type, data)
    SELECT %(user_id)s, typed.type,
           to_jsonb(typed) - 'type' - 'recurrence_rule' - 'recurrence_basis'
           || jsonb_build_object('url', %(tasks_url)s || '/' || typed.id,
                                 -- A task this statement creates has no reminder yet.
                                 'reminders', '[]'::jsonb)
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
       parent_id, position, time_zone, due_date, deleted_at
FROM typed
