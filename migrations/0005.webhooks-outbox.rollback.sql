-- Drop the webhooks, the outbox and the deliveries (pending deliveries are lost).
DROP INDEX idempotency_keys_created_idx;
DROP TABLE webhook_delivery_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE events;
DROP TABLE webhooks;
