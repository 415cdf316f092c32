-- Apply the given fields (set_<field>: false keeps the stored value) to one live list of one
-- user and return it. Only a real change writes, so version and updated_at move exactly when
-- a value does; no row when nothing would change, the list is absent, or if_versions (If-Match)
-- holds none of its versions.
-- Outbox: a list.updated event (the list as answered) and one delivery per subscribed
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
    UPDATE lists AS l
    SET change_seq = (SELECT seq FROM tick),
        name       = CASE WHEN %(set_name)s::boolean THEN %(name)s::text ELSE l.name END,
        color      = CASE WHEN %(set_color)s::boolean THEN %(color)s::text ELSE l.color END,
        version    = l.version + 1,
        updated_at = now()
    WHERE l.user_id = %(user_id)s
      AND l.id = %(list_id)s
      AND l.deleted_at IS NULL
      AND (%(if_versions)s::integer[] IS NULL OR l.version = ANY (%(if_versions)s::integer[]))
      AND (   (%(set_name)s::boolean AND %(name)s::text IS DISTINCT FROM l.name)
           OR (%(set_color)s::boolean AND %(color)s::text IS DISTINCT FROM l.color))
    RETURNING l.*
),
typed AS (
    SELECT l.id::text AS id, l.user_id, l.name, l.color, l.position, l.version,
           utc_text(l.created_at) AS created_at,
           utc_text(l.updated_at) AS updated_at,
           (SELECT count(*)
            FROM tasks AS t
            WHERE t.user_id = %(user_id)s
              AND coalesce(t.list_id, '00000000-0000-0000-0000-000000000000'::uuid) = l.id
              AND NOT t.completed
              AND t.deleted_at IS NULL) AS open_count
    FROM changed AS l
),
hooks AS (
    SELECT id, events FROM webhooks WHERE user_id = %(user_id)s AND enabled
),
event AS (
    INSERT INTO events (user_id, type, data)
    SELECT %(user_id)s, 'list.updated', to_jsonb(typed)
    FROM typed
    WHERE EXISTS (SELECT FROM hooks WHERE 'list.updated' = ANY (hooks.events))
    RETURNING id, type
),
delivery AS (
    INSERT INTO webhook_deliveries (user_id, webhook_id, event_id, next_attempt_at)
    SELECT %(user_id)s, hooks.id, event.id, now()
    FROM event JOIN hooks ON event.type = ANY (hooks.events)
)
SELECT id, user_id, name, color, position, version, created_at, updated_at, open_count
FROM typed
