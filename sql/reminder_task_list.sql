-- One task's reminders as the task's `reminders` field (the same JSON as task_get's), for the
-- answer of a write whose RETURNING does not carry them. None: [].
SELECT coalesce(json_agg(CASE WHEN r.at IS NULL
                              THEN jsonb_build_object('before_due', r.before_due)
                              ELSE jsonb_build_object('at', to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                         END || jsonb_build_object(
                             'id', r.id,
                             'fire_at', to_char(r.fire_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                             'state', r.state,
                             'fired_at', to_char(r.fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                         ORDER BY r.created_at, r.id), '[]'::json) AS reminders
FROM reminders AS r
WHERE r.user_id = %(user_id)s
  AND r.task_id = %(task_id)s
