-- Validate the checks 0015 added NOT VALID. VALIDATE CONSTRAINT scans each table under a
-- SHARE UPDATE EXCLUSIVE lock: reads and writes go on meanwhile.
-- depends: 0015.cheaper-checks

ALTER TABLE tasks VALIDATE CONSTRAINT tasks_row_check;
ALTER TABLE lists VALIDATE CONSTRAINT lists_user_id_format;
ALTER TABLE user_settings VALIDATE CONSTRAINT user_settings_user_id_format;
ALTER TABLE webhooks VALIDATE CONSTRAINT webhooks_user_id_format;
ALTER TABLE task_completions VALIDATE CONSTRAINT task_completions_user_id_format;
ALTER TABLE change_counters VALIDATE CONSTRAINT change_counters_user_id_format;
ALTER TABLE idempotency_keys VALIDATE CONSTRAINT idempotency_keys_user_id_format;
ALTER TABLE idempotency_keys VALIDATE CONSTRAINT idempotency_keys_key_format;
