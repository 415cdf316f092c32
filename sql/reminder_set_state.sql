-- Snooze (state 'snoozed', fire_at = until: it fires once more then) or acknowledge (state
-- 'acknowledged': it will not fire) one reminder of one user, whose task is not in the
-- trash; no row when there is no such reminder. `fire_at` NULL keeps the stored one.
WITH changed AS (
    UPDATE reminders AS r
    SET state   = %(state)s::text,
        fire_at = coalesce(%(fire_at)s::timestamptz, r.fire_at)
    FROM tasks AS t
    WHERE r.user_id = %(user_id)s
      AND r.id = %(reminder_id)s
      AND t.user_id = %(user_id)s
      AND t.id = r.task_id
      AND t.deleted_at IS NULL
    RETURNING r.*
)
SELECT id::text AS id, task_id::text AS task_id,
       to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
       before_due,
       to_char(fire_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS fire_at,
       state,
       to_char(fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS fired_at
FROM changed
