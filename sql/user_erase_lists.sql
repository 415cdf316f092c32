-- Erase: every row of one user in lists (DELETE /api/{user_id}, one transaction with the others).
DELETE FROM lists
WHERE user_id = %(user_id)s
