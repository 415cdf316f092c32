-- Erase: every row of one user in webhook_delivery_attempts (DELETE /api/{user_id}, one transaction with the others).
DELETE FROM webhook_delivery_attempts
WHERE user_id = %(user_id)s
