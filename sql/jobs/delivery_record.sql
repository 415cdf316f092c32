-- Record how one claimed attempt ended: `status` 'succeeded', 'pending' (a retry at
-- next_attempt_at) or 'failed' (gave up), and keep the attempt for GET .../deliveries.
-- Only while the row is still this worker's claim (same attempt, still pending): a worker
-- whose lease ran out and whose row another worker took records nothing.
-- One user, one row by its key: a single-shard statement on Citus.
WITH updated AS (
    UPDATE webhook_deliveries
    SET status = %(status)s,
        next_attempt_at = %(next_attempt_at)s,
        response_code = %(response_code)s,
        attempted_at = %(attempted_at)s
    WHERE user_id = %(user_id)s
      AND webhook_id = %(webhook_id)s
      AND event_id = %(event_id)s
      AND attempt = %(attempt)s
      AND status = 'pending'
    RETURNING user_id, webhook_id, event_id, attempt
)
INSERT INTO webhook_delivery_attempts (user_id, webhook_id, event_id, attempt, status,
                                       response_code, error, attempted_at, next_attempt_at)
SELECT user_id, webhook_id, event_id, attempt, %(status)s, %(response_code)s, %(error)s,
       %(attempted_at)s, %(next_attempt_at)s
FROM updated
RETURNING attempt
