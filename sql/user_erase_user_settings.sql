-- Erase: every row of one user in user_settings (DELETE /api/{user_id}, one transaction with the others).
DELETE FROM user_settings
WHERE user_id = %(user_id)s
