-- Record one event of a user in the outbox and queue one delivery to each of the user's
-- enabled webhooks that subscribe to its type; write nothing at all when there is none
-- (a user without webhooks pays one index probe). Run it in the transaction of the change
-- the event describes: then both commit, or neither does.
WITH hooks AS (
    SELECT id
    FROM webhooks
    WHERE user_id = %(user_id)s
      AND enabled
      AND %(type)s = ANY (events)
), event AS (
    INSERT INTO events (user_id, type, data)
    SELECT %(user_id)s, %(type)s, %(data)s::jsonb
    WHERE EXISTS (SELECT FROM hooks)
    RETURNING id
)
INSERT INTO webhook_deliveries (user_id, webhook_id, event_id, next_attempt_at)
SELECT %(user_id)s, hooks.id, event.id, now()
FROM event, hooks
RETURNING event_id::text AS event_id
