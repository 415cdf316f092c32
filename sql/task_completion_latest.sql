-- The latest completion record of one task of one user (read under the task's row lock).
SELECT seq, occurrence_due, occurrence_date, occurrence_wall, occurrence_index
FROM task_completions
WHERE user_id = %(user_id)s
  AND task_id = %(task_id)s
ORDER BY seq DESC
LIMIT 1
