-- One user's reminders, newest first (by when they fired, else when they fire), optionally
-- of one state; reminders of trashed tasks are left out. At most `limit`.
SELECT r.id::text AS id, r.task_id::text AS task_id,
       to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
       r.before_due,
       to_char(r.fire_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS fire_at,
       r.state,
       to_char(r.fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS fired_at
FROM reminders AS r
JOIN tasks AS t ON t.user_id = r.user_id AND t.id = r.task_id
WHERE r.user_id = %(user_id)s
  AND t.user_id = %(user_id)s
  AND t.deleted_at IS NULL
  AND (%(state)s::text IS NULL OR r.state = %(state)s::text)
ORDER BY coalesce(r.fired_at, r.fire_at) DESC, r.id DESC
LIMIT %(limit)s
