-- Create one list for one user and return it as list_get does (a new list has no tasks:
-- open_count 0). utc_text, not to_char: Citus takes only IMMUTABLE functions in a write's
-- RETURNING (migration 0006).
-- Outbox: a list.created event (the list as answered) and one delivery per subscribed
-- webhook are written by this same statement, only while the user has an enabled webhook
-- for the type (docs/webhooks.md): a user without one pays one index probe.
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
changed AS (
    -- INSERT ... SELECT FROM tick, not a subquery in VALUES, which Citus refuses.
    INSERT INTO lists (user_id, name, color, position, change_seq)
    SELECT %(user_id)s, %(name)s, %(color)s, %(position)s, tick.seq
    FROM tick
    RETURNING *
),
typed AS (
    SELECT l.id::text AS id, l.user_id, l.name, l.color, l.position, l.version,
           utc_text(l.created_at) AS created_at,
           utc_text(l.updated_at) AS updated_at,
           0::bigint AS open_count
    FROM changed AS l
),
hooks AS (
    SELECT id, events FROM webhooks WHERE user_id = %(user_id)s AND enabled
),
event AS (
    INSERT INTO events (user_id, type, data)
    SELECT %(user_id)s, 'list.created', to_jsonb(typed)
    FROM typed
    WHERE EXISTS (SELECT FROM hooks WHERE 'list.created' = ANY (hooks.events))
    RETURNING id, type
),
delivery AS (
    INSERT INTO webhook_deliveries (user_id, webhook_id, event_id, next_attempt_at)
    SELECT %(user_id)s, hooks.id, event.id, now()
    FROM event JOIN hooks ON event.type = ANY (hooks.events)
)
SELECT id, user_id, name, color, position, version, created_at, updated_at, open_count
FROM typed
