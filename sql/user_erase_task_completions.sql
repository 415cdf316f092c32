-- Erase: every row of one user in task_completions (DELETE /api/{user_id}, one transaction with the others).
DELETE FROM task_completions
WHERE user_id = %(user_id)s
