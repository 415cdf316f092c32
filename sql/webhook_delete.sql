-- Delete one webhook (its deliveries and their attempts go with it) and return what it was.
DELETE FROM webhooks
WHERE user_id = %(user_id)s
  AND id = %(webhook_id)s
RETURNING id::text AS id, user_id, url, events, enabled, version, created_at, updated_at
