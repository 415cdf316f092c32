-- Fire up to `limit` of one user's due reminders: lock them skipping rows another worker
-- holds, and in the same statement mark each `fired` (fired_at = now) or, when its fire_at
-- is older than `late_after` (now - 24 h: the worker was down), `missed`. A row fired here
-- leaves the queue (its state is no longer scheduled or snoozed), so a second worker, or a
-- later round, never fires it again: once per scheduled fire_at. Reminders of completed or
-- trashed tasks are left alone. The caller records the reminder.fired events in the same
-- transaction. `now` and `late_after` are passed in (Citus takes no now() inside CASE of an
-- UPDATE). One user per statement: a single-shard statement on Citus.
WITH due AS (
    -- Only reminders are locked: the tasks are read in a subquery, never row-locked (a task
    -- lock would have to take the user's change counter first, docs/sync.md).
    SELECT r.id
    FROM reminders AS r
    WHERE r.user_id = %(user_id)s
      AND r.state IN ('scheduled', 'snoozed')
      AND r.fire_at <= %(now)s::timestamptz
      AND r.task_id IN (SELECT t.id
                        FROM tasks AS t
                        WHERE t.user_id = %(user_id)s
                          AND NOT t.completed
                          AND t.deleted_at IS NULL)
    ORDER BY r.fire_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
changed AS (
    UPDATE reminders AS r
    SET state    = CASE WHEN r.fire_at > %(late_after)s::timestamptz THEN 'fired' ELSE 'missed' END,
        fired_at = CASE WHEN r.fire_at > %(late_after)s::timestamptz THEN %(now)s::timestamptz
                        ELSE r.fired_at END
    FROM due
    WHERE r.user_id = %(user_id)s
      AND r.id = due.id
    RETURNING r.*
)
SELECT id::text AS id, task_id::text AS task_id,
       to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
       before_due,
       to_char(fire_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS fire_at,
       state,
       to_char(fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS fired_at,
       extract(epoch FROM %(now)s::timestamptz - fire_at)::float8 AS lag_seconds
FROM changed
ORDER BY fire_at
