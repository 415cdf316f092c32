-- Lock one live task of one user for completing or undoing an occurrence of its series, and
-- read what the next occurrence is computed from: the rule, the current occurrence (its due,
-- wall time and index), the zone (the task's, else the user's setting, else UTC), the number
-- of the latest completion record, and the transaction's time (the completion moment, the
-- same now() every other write of the transaction stamps). No row: no such task. It takes the
-- user's change counter first, as every write does (see task_place).
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
)
SELECT t.id, t.version, t.completed, t.due_at, t.due_date,
       coalesce(t.time_zone, s.time_zone, 'UTC') AS zone,
       t.recurrence_rule, t.recurrence_basis, t.recurrence_wall, t.recurrence_index,
       (SELECT c.seq
        FROM task_completions AS c
        WHERE c.user_id = %(user_id)s
          AND c.task_id = t.id
        ORDER BY c.seq DESC
        LIMIT 1) AS last_seq,
       now() AS now
FROM tasks AS t
LEFT JOIN user_settings AS s ON s.user_id = t.user_id
WHERE t.user_id = %(user_id)s
  AND t.id = %(task_id)s
  AND t.deleted_at IS NULL
  -- A one-time filter: the counter is locked before the task row (docs/sync.md).
  AND (SELECT seq FROM tick) > 0
FOR UPDATE OF t
