-- Erase: every row of one user in events (DELETE /api/{user_id}, one transaction with the others).
DELETE FROM events
WHERE user_id = %(user_id)s
