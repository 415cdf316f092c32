-- Erase: every row of one user in idempotency_keys (DELETE /api/{user_id}, one transaction with the others).
DELETE FROM idempotency_keys
WHERE user_id = %(user_id)s
