-- Webhooks: a user's subscriptions, the outbox of events, and one delivery per
-- (webhook, event) with the record of its attempts. Every table leads its keys with
-- user_id and every foreign key includes it, so all four are distributed by user_id and
-- co-located with tasks on Citus (docs/scaling.md); the worker claims deliveries one
-- user at a time (a single-shard statement), see docs/worker.md.
-- depends: 0004.task-model-v2

CREATE TABLE webhooks (
    user_id     text        NOT NULL,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    url         text        NOT NULL,
    events      text[]      NOT NULL,
    -- 'whsec_' + base64 of 32 random bytes; shown to the client once, at creation.
    secret      text        NOT NULL,
    enabled     boolean     NOT NULL DEFAULT true,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, id),
    CONSTRAINT webhooks_user_id_format CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$'),
    CONSTRAINT webhooks_url_length CHECK (char_length(url) BETWEEN 1 AND 2048),
    CONSTRAINT webhooks_events_present CHECK (cardinality(events) BETWEEN 1 AND 32)
);

-- The outbox: one row per event, written in the same statement or transaction as the
-- change it describes, and only while the user has an enabled webhook for its type.
CREATE TABLE events (
    user_id     text        NOT NULL,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    data        jsonb       NOT NULL,
    PRIMARY KEY (user_id, id)
);
-- The purge of old events walks them by age.
CREATE INDEX events_occurred_at_idx ON events (occurred_at);

-- One delivery of one event to one webhook. `attempt` counts the attempts started; the
-- worker claims a due row (FOR UPDATE SKIP LOCKED) and pushes next_attempt_at forward by a
-- lease before it sends, so a worker that dies mid-send leaves a row another one retries.
CREATE TABLE webhook_deliveries (
    user_id         text        NOT NULL,
    webhook_id      uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempt         integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    response_code   smallint,
    attempted_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, webhook_id, event_id),
    FOREIGN KEY (user_id, webhook_id) REFERENCES webhooks (user_id, id) ON DELETE CASCADE,
    FOREIGN KEY (user_id, event_id) REFERENCES events (user_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_status CHECK (status IN ('pending', 'succeeded', 'failed')),
    CONSTRAINT webhook_deliveries_due CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
-- The worker's queue: pending deliveries by due time (small: finished rows leave it).
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- A user's due deliveries, for the single-shard claim.
CREATE INDEX webhook_deliveries_user_due_idx ON webhook_deliveries (user_id, next_attempt_at)
    WHERE status = 'pending';
-- The events a webhook's pending rows point at (the cascade from events, the deliveries page).
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (user_id, event_id);

-- Each finished attempt, as GET .../deliveries shows it.
CREATE TABLE webhook_delivery_attempts (
    user_id         text        NOT NULL,
    webhook_id      uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    attempt         integer     NOT NULL,
    status          text        NOT NULL,
    response_code   smallint,
    error           text,
    attempted_at    timestamptz NOT NULL,
    next_attempt_at timestamptz,
    PRIMARY KEY (user_id, webhook_id, event_id, attempt),
    FOREIGN KEY (user_id, webhook_id, event_id)
        REFERENCES webhook_deliveries (user_id, webhook_id, event_id) ON DELETE CASCADE,
    CONSTRAINT webhook_delivery_attempts_status
        CHECK (status IN ('pending', 'succeeded', 'failed'))
);
CREATE INDEX webhook_delivery_attempts_recent_idx
    ON webhook_delivery_attempts (user_id, webhook_id, attempted_at DESC);

-- The worker's purge finds users with expired Idempotency-Key records by age.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
