-- Change the given fields of one webhook (set_<field> says which were given); no row comes
-- back when nothing would change, so an unchanged webhook keeps its version.
UPDATE webhooks
SET url        = CASE WHEN %(set_url)s THEN %(url)s ELSE url END,
    events     = CASE WHEN %(set_events)s THEN %(events)s::text[] ELSE events END,
    enabled    = CASE WHEN %(set_enabled)s THEN %(enabled)s ELSE enabled END,
    version    = version + 1,
    updated_at = now()
WHERE user_id = %(user_id)s
  AND id = %(webhook_id)s
  AND (url, events, enabled) IS DISTINCT FROM (
        CASE WHEN %(set_url)s THEN %(url)s ELSE url END,
        CASE WHEN %(set_events)s THEN %(events)s::text[] ELSE events END,
        CASE WHEN %(set_enabled)s THEN %(enabled)s ELSE enabled END)
RETURNING id::text AS id, user_id, url, events, enabled, version, created_at, updated_at
