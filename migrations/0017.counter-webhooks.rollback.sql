-- Undo the webhook count: the outbox-free statements then never match (the service must be
-- the version before it, which does not send them).
DROP TRIGGER webhooks_count_delete ON webhooks;
DROP TRIGGER webhooks_count_insert ON webhooks;
DROP FUNCTION webhooks_count_delete();
DROP FUNCTION webhooks_count_insert();
ALTER TABLE change_counters DROP COLUMN webhooks;
