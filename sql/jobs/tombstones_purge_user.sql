-- Delete up to `limit` of one user's change tombstones older than the retention, lowest
-- counter value first, skipping rows another transaction holds, and raise the user's
-- expired_through to the highest value deleted: a feed cursor below it may have missed one of
-- these deletions and is answered 410 (docs/sync.md). Both in one statement, so a reader never
-- sees the tombstones gone while the horizon is still below them. One user per statement.
WITH gone AS (
    DELETE FROM change_tombstones
    WHERE user_id = %(user_id)s
      AND (kind, id) IN (SELECT g.kind, g.id
                         FROM change_tombstones AS g
                         WHERE g.user_id = %(user_id)s
                           AND g.deleted_at < now() - make_interval(days => %(retention_days)s)
                         ORDER BY g.seq
                         LIMIT %(limit)s
                         FOR UPDATE SKIP LOCKED)
    RETURNING seq
),
horizon AS (
    UPDATE change_counters AS c
    SET expired_through = greatest(c.expired_through, m.seq)
    FROM (SELECT max(seq) AS seq FROM gone) AS m
    WHERE c.user_id = %(user_id)s
      AND m.seq IS NOT NULL
    RETURNING c.user_id
)
SELECT (SELECT count(*) FROM gone) AS purged
