-- A webhook's recent delivery attempts, newest first: each finished attempt, and each
-- delivery whose first attempt has not happened yet (attempt 1, pending, not attempted).
SELECT event_id, type, attempt, status, response_code, attempted_at, next_attempt_at
FROM (
    SELECT a.event_id::text AS event_id, e.type, a.attempt, a.status, a.response_code,
           a.attempted_at, a.next_attempt_at, a.attempted_at AS at
    FROM webhook_delivery_attempts a
    JOIN events e ON e.user_id = a.user_id AND e.id = a.event_id
    WHERE a.user_id = %(user_id)s
      AND a.webhook_id = %(webhook_id)s
      AND e.user_id = %(user_id)s
    UNION ALL
    SELECT d.event_id::text, e.type, 1, 'pending', NULL, NULL, d.next_attempt_at, d.created_at
    FROM webhook_deliveries d
    JOIN events e ON e.user_id = d.user_id AND e.id = d.event_id
    WHERE d.user_id = %(user_id)s
      AND d.webhook_id = %(webhook_id)s
      AND e.user_id = %(user_id)s
      AND d.status = 'pending'
      AND d.attempted_at IS NULL
) recent
ORDER BY at DESC, event_id DESC, attempt DESC
LIMIT %(limit)s
