-- Counts over one user's tasks (the trash left out). Overdue = not completed and past due: a
-- due_at before now, or an all-day due_date whose day has ended in the task's zone (its own,
-- else the user's setting, else UTC), i.e. the next day has started there.
SELECT count(*) AS total,
       count(*) FILTER (WHERE completed) AS completed,
       count(*) FILTER (WHERE NOT completed) AS pending,
       count(*) FILTER (
           WHERE NOT completed
             AND (due_at < now()
                  OR ((due_date + 1)::timestamp
                      AT TIME ZONE coalesce(time_zone,
                                            (SELECT s.time_zone
                                             FROM user_settings AS s
                                             WHERE s.user_id = %(user_id)s),
                                            'UTC')) <= now())) AS overdue
FROM tasks
WHERE user_id = %(user_id)s
  AND deleted_at IS NULL
