-- The format checks, rewritten to cost a fraction of what they did: PostgreSQL's regex engine
-- expands a bounded repeat such as {1,128} into that many states, and matching the user id
-- against it took ~15 us of CPU on every row written (two per task write: the task and the
-- change counter; bench/RESULTS.md, "format checks"). The same rule as before: one or more
-- of the allowed characters, by a plain repeat, and at most so many by char_length.
-- The constraints are replaced NOT VALID (no scan under the exclusive lock the change
-- takes); 0016 validates them, in a transaction of its own, taking a lock that lets reads
-- and writes go on. The rows already hold: they passed the equivalent check.
-- One subcommand per ALTER TABLE: Citus takes ADD CONSTRAINT only alone.
-- depends: 0014.task-stamps

ALTER TABLE tasks DROP CONSTRAINT tasks_user_id_format;
ALTER TABLE tasks ADD CONSTRAINT tasks_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(user_id) <= 128) NOT VALID;

ALTER TABLE lists DROP CONSTRAINT lists_user_id_format;
ALTER TABLE lists ADD CONSTRAINT lists_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(user_id) <= 128) NOT VALID;

ALTER TABLE user_settings DROP CONSTRAINT user_settings_user_id_format;
ALTER TABLE user_settings ADD CONSTRAINT user_settings_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(user_id) <= 128) NOT VALID;

ALTER TABLE webhooks DROP CONSTRAINT webhooks_user_id_format;
ALTER TABLE webhooks ADD CONSTRAINT webhooks_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(user_id) <= 128) NOT VALID;

ALTER TABLE task_completions DROP CONSTRAINT task_completions_user_id_format;
ALTER TABLE task_completions ADD CONSTRAINT task_completions_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(user_id) <= 128) NOT VALID;

ALTER TABLE change_counters DROP CONSTRAINT change_counters_user_id_format;
ALTER TABLE change_counters ADD CONSTRAINT change_counters_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(user_id) <= 128) NOT VALID;

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_user_id_format;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(user_id) <= 128) NOT VALID;

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_key_format;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_key_format
    CHECK (key ~ '^[ -~]+$' AND char_length(key) <= 255) NOT VALID;
