-- Delete up to `limit` of one user's events older than the retention whose deliveries are all
-- finished (their deliveries and attempts go with them, by cascade), skipping rows another
-- transaction holds. One user per statement: a single-shard statement on Citus.
DELETE FROM events
WHERE user_id = %(user_id)s
  AND id IN (SELECT e.id
             FROM events e
             WHERE e.user_id = %(user_id)s
               AND e.occurred_at < now() - make_interval(days => %(retention_days)s)
               AND NOT EXISTS (SELECT FROM webhook_deliveries d
                               WHERE d.user_id = %(user_id)s
                                 AND d.event_id = e.id
                                 AND d.status = 'pending')
             ORDER BY e.occurred_at
             LIMIT %(limit)s
             FOR UPDATE SKIP LOCKED)
