-- Empty one user's trash for good: every trashed task and list. Returns how many went.
WITH gone_tasks AS (
    DELETE FROM tasks
    WHERE user_id = %(user_id)s
      AND deleted_at IS NOT NULL
    RETURNING id
),
gone_lists AS (
    DELETE FROM lists
    WHERE user_id = %(user_id)s
      AND deleted_at IS NOT NULL
    RETURNING id
)
SELECT (SELECT count(*) FROM gone_tasks) + (SELECT count(*) FROM gone_lists) AS purged
