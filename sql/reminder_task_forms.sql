-- One task's reminders as stored (id and form), oldest first: what a new set is compared
-- with, so that a reminder sent again unchanged keeps its id and state.
SELECT id, at, before_due
FROM reminders
WHERE user_id = %(user_id)s
  AND task_id = %(task_id)s
ORDER BY created_at, id
