-- Every reminder of one user for the export (trashed tasks' included), by task and fire time.
SELECT r.id::text AS id, r.task_id::text AS task_id,
       to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
       r.before_due,
       to_char(r.fire_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS fire_at,
       r.state,
       to_char(r.fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS fired_at
FROM reminders AS r
WHERE r.user_id = %(user_id)s
ORDER BY r.task_id, r.fire_at, r.id
