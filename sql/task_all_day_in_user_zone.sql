-- One user's all-day tasks that follow the user's zone (no time_zone of their own), trash
-- included: their day starts move when the user's zone does.
SELECT id, due_date
FROM tasks
WHERE user_id = %(user_id)s
  AND due_date IS NOT NULL
  AND time_zone IS NULL
