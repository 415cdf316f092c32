-- The service's own random keys, one row per purpose (today: "cursor", the key that signs
-- listing cursors when CURSOR_SECRET is unset). Whichever process asks first creates the key;
-- every worker and instance then reads the same one, and nobody can derive it from a setting.
-- Not user data: no user_id. On a Citus cluster this table stays on the coordinator (or is
-- made a reference table); it is read once per process.
-- depends: 0006.citus-routable-helpers

CREATE TABLE service_keys (
    name       text        PRIMARY KEY,
    secret     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT service_keys_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    CONSTRAINT service_keys_secret_length CHECK (octet_length(secret) >= 32)
);
