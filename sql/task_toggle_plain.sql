-- task_toggle_flat for a user without webhooks: the same toggle of a task with neither a
-- parent nor sub-tasks, without the outbox (no webhooks probe; the events and deliveries
-- tables not even opened: bench/RESULTS.md, "the outbox-free create and toggle"). Its
-- counter tick matches only while the user's webhook count is zero
-- (change_counters.webhooks, which a trigger on webhooks keeps: migration 0017); otherwise,
-- and before the user's first write, it writes nothing and returns no row, as it does for
-- any task task_toggle_flat would not toggle, and the service runs task_toggle_flat
-- (service/data/tasks.py). A tick that wrote nothing only leaves a gap in the counter, as
-- task_toggle_flat's does.
WITH tick AS (
    -- The user's change counter, row-locked until commit (docs/sync.md). A webhook being
    -- created holds this row until it commits; the re-read after the wait then fails here.
    UPDATE change_counters AS cc
    SET seq = cc.seq + 1
    WHERE cc.user_id = %(user_id)s
      AND cc.webhooks = 0
    RETURNING cc.seq
),
changed AS (
    UPDATE tasks AS t
    SET change_seq    = (SELECT seq FROM tick),
        completed     = NOT t.completed,
        completed_at  = completion_time(NOT t.completed, t.completed_at, now()),
        completion_id = CASE WHEN t.completed THEN NULL ELSE %(completion_id)s::uuid END,
        version       = t.version + 1,
        updated_at    = now()
    WHERE t.user_id = %(user_id)s
      AND t.id = %(task_id)s
      AND EXISTS (SELECT FROM tick)
      AND t.deleted_at IS NULL
      AND t.parent_id IS NULL
      AND (%(if_versions)s::integer[] IS NULL OR t.version = ANY (%(if_versions)s::integer[]))
      -- An open recurring task completes an occurrence instead (service/data/recurrence.py).
      AND (t.recurrence_rule IS NULL OR t.completed)
      AND NOT EXISTS (SELECT 1
                      FROM tasks AS c
                      WHERE c.user_id = %(user_id)s
                        AND c.parent_id = t.id)
    RETURNING t.*
)
SELECT id::text AS id, user_id, title, description, completed,
       utc_text(completed_at) AS completed_at, priority, utc_text(due_at) AS due_at, tags,
       "order", version, utc_text(created_at) AS created_at,
       utc_text(updated_at) AS updated_at, recurrence_rule, recurrence_basis,
       list_id::text AS list_id, parent_id::text AS parent_id, position, time_zone, due_date,
       utc_text(deleted_at) AS deleted_at, reminder_count
FROM changed
