-- Erase: every row of one user in lists (DELETE /api/{user_id}, one transaction with the others).
-- Like user_erase_tasks: no tombstones, the user's feed horizon raised past every old cursor.
WITH tick AS (
    INSERT INTO change_counters AS cc (user_id, seq, expired_through)
    VALUES (%(user_id)s, 1, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1, expired_through = cc.seq + 1
    RETURNING cc.seq
)
DELETE FROM lists
WHERE user_id = %(user_id)s
  AND (SELECT seq FROM tick) > 0
