-- Erase: every row of one user in reminders (DELETE /api/{user_id}, one transaction with the
-- others; before the tasks, so the count is the reminders' own and not lost to the cascade).
DELETE FROM reminders
WHERE user_id = %(user_id)s
