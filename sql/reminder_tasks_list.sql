-- The reminders of some of one user's tasks (a listing page), as each task's `reminders` field
-- (the same JSON as task_get's): one row per task that has any; the caller gives the others [].
-- One statement per page, beside the page's own, so the page's plan stays the sort index's
-- (a per-row subquery in the page statement changed the prepared plans, test_listing_plans).
SELECT r.task_id::text AS task_id,
       json_agg(CASE WHEN r.at IS NULL
                     THEN jsonb_build_object('before_due', r.before_due)
                     ELSE jsonb_build_object('at', to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                END || jsonb_build_object(
                    'id', r.id,
                    'fire_at', to_char(r.fire_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                    'state', r.state,
                    'fired_at', to_char(r.fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                ORDER BY r.created_at, r.id) AS reminders
FROM reminders AS r
WHERE r.user_id = %(user_id)s
  AND r.task_id = ANY (%(task_ids)s::uuid[])
GROUP BY r.task_id
