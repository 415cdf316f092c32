-- Erase: every row of one user in webhooks (DELETE /api/{user_id}, one transaction with the others).
DELETE FROM webhooks
WHERE user_id = %(user_id)s
