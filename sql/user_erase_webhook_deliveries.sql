-- Erase: every row of one user in webhook_deliveries (DELETE /api/{user_id}, one transaction with the others).
DELETE FROM webhook_deliveries
WHERE user_id = %(user_id)s
