-- Idempotency-Key records: the answer to the first successful request with a key, per user,
-- replayed to repeats of that request for 24 hours. Older rows are expired: lookups ignore
-- them, and they are purged a few at a time whenever the same user stores a new key.
-- A row is written in the same transaction as the request's own write, so neither exists
-- without the other. The key starts with user_id (shardable, like tasks).
-- depends: 0002.listing-indexes

CREATE TABLE idempotency_keys (
    user_id     text        NOT NULL,
    key         text        NOT NULL,
    fingerprint bytea       NOT NULL,
    status      smallint    NOT NULL,
    headers     jsonb       NOT NULL DEFAULT '{}',
    body        bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_user_id_format CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$'),
    CONSTRAINT idempotency_keys_key_format CHECK (key ~ '^[ -~]{1,255}$'),
    CONSTRAINT idempotency_keys_fingerprint_sha256 CHECK (octet_length(fingerprint) = 32),
    CONSTRAINT idempotency_keys_status_http CHECK (status BETWEEN 100 AND 599)
);

-- Finding a user's expired keys without scanning the live ones.
CREATE INDEX idempotency_keys_user_created_idx ON idempotency_keys (user_id, created_at);
