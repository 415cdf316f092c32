-- A user's webhooks, oldest first, without their secrets.
SELECT id::text AS id, user_id, url, events, enabled, version, created_at, updated_at
FROM webhooks
WHERE user_id = %(user_id)s
ORDER BY created_at, id
