-- Create one list for one user; list_get reads it back with its counts.
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
)
INSERT INTO lists (user_id, name, color, position, change_seq)
VALUES (%(user_id)s, %(name)s, %(color)s, %(position)s, (SELECT seq FROM tick))
RETURNING id
