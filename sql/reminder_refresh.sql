-- Recompute the fire_at of some of one user's tasks' relative reminders from its due as it now stands (after
-- a client changed the due or the zone, a recurring task advanced, an undo moved it back, or
-- the user's zone moved the start of an all-day due).
-- A reminder whose fire_at moves is scheduled again (one firing per scheduled fire_at), or
-- missed at once when the new time is older than `missed_before` (now - 24 h). A task left
-- without a due makes fire_at NULL and fails the NOT NULL: the caller answers 422.
UPDATE reminders AS r
SET fire_at  = reminder_fire_at(coalesce(t.due_at, t.due_date_start), r.before_due),
    state    = CASE WHEN reminder_fire_at(coalesce(t.due_at, t.due_date_start), r.before_due)
                         <= %(missed_before)s::timestamptz
                    THEN 'missed' ELSE 'scheduled' END,
    fired_at = NULL
FROM tasks AS t
WHERE r.user_id = %(user_id)s
  AND r.task_id = ANY (%(task_ids)s::uuid[])
  AND r.before_due IS NOT NULL
  AND t.user_id = %(user_id)s
  AND t.id = r.task_id
  AND r.fire_at IS DISTINCT FROM reminder_fire_at(coalesce(t.due_at, t.due_date_start),
                                                  r.before_due)
