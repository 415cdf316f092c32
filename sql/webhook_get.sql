-- One webhook of one user, without its secret.
SELECT id::text AS id, user_id, url, events, enabled, version, created_at, updated_at
FROM webhooks
WHERE user_id = %(user_id)s
  AND id = %(webhook_id)s
