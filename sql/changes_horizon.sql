-- The user's feed horizon: a cursor below `expired_through` may have missed a purged
-- tombstone (410). No row for a user who never wrote. Read after the page, so that a
-- tombstone purge committed while the page was read makes the answer a 410, never a gap.
SELECT expired_through
FROM change_counters
WHERE user_id = %(user_id)s
