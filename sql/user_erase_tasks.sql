-- Erase: every row of one user in tasks (DELETE /api/{user_id}, one transaction with the others).
DELETE FROM tasks
WHERE user_id = %(user_id)s
