-- task_insert for a user without webhooks: the same insert of one task, without the outbox
-- (no webhooks probe; the events and deliveries tables not even opened: bench/RESULTS.md,
-- "the outbox-free create and toggle"). Its counter tick matches only while the user's
-- webhook count is zero (change_counters.webhooks, which a trigger on webhooks keeps:
-- migration 0017); otherwise, and before the user's first write, it inserts nothing and
-- returns no row, and the service runs task_insert (service/data/tasks.py).
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
    INSERT INTO tasks (user_id, title, description, completed, completed_at, completion_id,
                       priority, due_at, tags, "order", list_id, parent_id, position,
                       time_zone, due_date, due_date_start, recurrence_rule, recurrence_basis,
                       change_seq)
    SELECT %(user_id)s, %(title)s, %(description)s, %(completed)s,
           completion_time(%(completed)s, NULL, now()), %(completion_id)s::uuid,
           %(priority)s::task_priority, %(due_at)s, %(tags)s::text[], %(order)s,
           %(list_id)s::uuid, %(parent_id)s::uuid, %(position)s, %(time_zone)s,
           %(due_date)s::date, %(due_date_start)s::timestamptz,
           %(recurrence_rule)s, %(recurrence_basis)s, tick.seq
    FROM tick
    RETURNING *
)
SELECT id::text AS id, user_id, title, description, completed,
       utc_text(completed_at) AS completed_at, priority, utc_text(due_at) AS due_at, tags,
       "order", version, utc_text(created_at) AS created_at,
       utc_text(updated_at) AS updated_at, recurrence_rule, recurrence_basis,
       list_id::text AS list_id, parent_id::text AS parent_id, position, time_zone, due_date,
       utc_text(deleted_at) AS deleted_at
FROM changed
