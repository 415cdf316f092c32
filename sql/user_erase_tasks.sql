-- Erase: every row of one user in tasks (DELETE /api/{user_id}, one transaction with the others).
-- The changes feed leaves no tombstones of an erased account (its ids go too): the tick also
-- raises the user's horizon to its own value, so every cursor given out before the erase is a
-- 410 (sync from the beginning: an empty account), and the user's tombstones go (docs/sync.md).
WITH tick AS (
    INSERT INTO change_counters AS cc (user_id, seq, expired_through)
    VALUES (%(user_id)s, 1, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1, expired_through = cc.seq + 1
    RETURNING cc.seq
),
tombstones AS (
    DELETE FROM change_tombstones
    WHERE user_id = %(user_id)s
      AND (SELECT seq FROM tick) > 0
)
DELETE FROM tasks
WHERE user_id = %(user_id)s
  AND (SELECT seq FROM tick) > 0
