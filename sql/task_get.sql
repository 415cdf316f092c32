-- One task of one user; no row when the user has no task with this id.
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits): formatting them here saves building a UUID or datetime
-- object for each value in Python and formatting it again.
SELECT id::text AS id, user_id, title, description, completed,
       to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS completed_at,
       priority,
       to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS due_at,
       tags, "order", version,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
       to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at,
       recurrence_rule, recurrence_basis,
       list_id::text AS list_id, parent_id::text AS parent_id, position, time_zone, due_date,
       to_char(deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS deleted_at,
       -- The task's reminders (none: [], read only where reminder_count says there are
       -- some: one probe of reminders_user_task_idx).
       CASE WHEN reminder_count = 0 THEN '[]'::json ELSE coalesce((SELECT json_agg(CASE WHEN r.at IS NULL
                                       THEN jsonb_build_object('before_due', r.before_due)
                                       ELSE jsonb_build_object('at', to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                                  END || jsonb_build_object(
                            'id', r.id,
                            'fire_at', to_char(r.fire_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                            'state', r.state,
                            'fired_at', to_char(r.fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                        ORDER BY r.created_at, r.id)
                 FROM reminders AS r
                 WHERE r.user_id = tasks.user_id AND r.task_id = tasks.id), '[]'::json) END AS reminders
FROM tasks
WHERE user_id = %(user_id)s
  AND id = %(task_id)s
  AND deleted_at IS NULL
