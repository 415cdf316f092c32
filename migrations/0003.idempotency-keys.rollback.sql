-- Drop the Idempotency-Key records (keys in flight are simply forgotten).
DROP TABLE idempotency_keys;
