-- Undo the cheaper format checks: the bounded-repeat regexes come back (validated).

ALTER TABLE tasks DROP CONSTRAINT tasks_user_id_format;
ALTER TABLE tasks ADD CONSTRAINT tasks_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$');

ALTER TABLE lists DROP CONSTRAINT lists_user_id_format;
ALTER TABLE lists ADD CONSTRAINT lists_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$');

ALTER TABLE user_settings DROP CONSTRAINT user_settings_user_id_format;
ALTER TABLE user_settings ADD CONSTRAINT user_settings_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$');

ALTER TABLE webhooks DROP CONSTRAINT webhooks_user_id_format;
ALTER TABLE webhooks ADD CONSTRAINT webhooks_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$');

ALTER TABLE task_completions DROP CONSTRAINT task_completions_user_id_format;
ALTER TABLE task_completions ADD CONSTRAINT task_completions_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$');

ALTER TABLE change_counters DROP CONSTRAINT change_counters_user_id_format;
ALTER TABLE change_counters ADD CONSTRAINT change_counters_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$');

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_user_id_format;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_user_id_format
    CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$');

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_key_format;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_key_format
    CHECK (key ~ '^[ -~]{1,255}$');
