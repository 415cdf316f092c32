-- Undo the cheaper checks: tasks' 18 CHECK constraints and the bounded-repeat format regexes
-- come back (validated: each scans its table).

ALTER TABLE tasks DROP CONSTRAINT tasks_row_check;
DROP FUNCTION tasks_row_check(text, uuid, text, text, boolean, timestamptz, timestamptz, text[],
    integer, uuid, text, date, timestamptz, uuid, timestamptz, uuid, text, text, timestamp,
    integer, smallint);
DROP FUNCTION tasks_row_violation(text, uuid, text, text, boolean, timestamptz, timestamptz,
    text[], integer, uuid, text, date, timestamptz, uuid, timestamptz, uuid, text, text,
    timestamp, integer, smallint);

ALTER TABLE tasks ADD CONSTRAINT tasks_completed_at_set
    CHECK (((completed_at IS NOT NULL) = completed));
ALTER TABLE tasks ADD CONSTRAINT tasks_completion_id_completed
    CHECK (((completion_id IS NULL) OR completed));
ALTER TABLE tasks ADD CONSTRAINT tasks_description_length
    CHECK ((char_length(description) <= 1000));
ALTER TABLE tasks ADD CONSTRAINT tasks_due_date_start_set
    CHECK (((due_date IS NULL) = (due_date_start IS NULL)));
ALTER TABLE tasks ADD CONSTRAINT tasks_due_one_form
    CHECK (((due_at IS NULL) OR (due_date IS NULL)));
ALTER TABLE tasks ADD CONSTRAINT tasks_parent_not_self
    CHECK ((parent_id <> id));
ALTER TABLE tasks ADD CONSTRAINT tasks_recurrence_basis_known
    CHECK ((recurrence_basis = ANY (ARRAY['due'::text, 'completion'::text])));
ALTER TABLE tasks ADD CONSTRAINT tasks_recurrence_index_range
    CHECK ((recurrence_index >= 0));
ALTER TABLE tasks ADD CONSTRAINT tasks_recurrence_needs_due
    CHECK (((recurrence_rule IS NULL) OR (due_at IS NOT NULL) OR (due_date IS NOT NULL)));
ALTER TABLE tasks ADD CONSTRAINT tasks_recurrence_rule_length
    CHECK (((char_length(recurrence_rule) >= 1) AND (char_length(recurrence_rule) <= 500)));
ALTER TABLE tasks ADD CONSTRAINT tasks_recurrence_together
    CHECK ((((recurrence_rule IS NULL) = (recurrence_basis IS NULL)) AND ((recurrence_wall IS NULL) OR (recurrence_rule IS NOT NULL))));
ALTER TABLE tasks ADD CONSTRAINT tasks_reminder_count_range
    CHECK ((reminder_count >= 0));
ALTER TABLE tasks ADD CONSTRAINT tasks_tags_count
    CHECK ((cardinality(tags) <= 20));
ALTER TABLE tasks ADD CONSTRAINT tasks_time_zone_length
    CHECK (((char_length(time_zone) >= 1) AND (char_length(time_zone) <= 64)));
ALTER TABLE tasks ADD CONSTRAINT tasks_title_length
    CHECK (((char_length(title) >= 1) AND (char_length(title) <= 200)));
ALTER TABLE tasks ADD CONSTRAINT tasks_trash_together
    CHECK (((deleted_at IS NULL) = (batch_id IS NULL)));
ALTER TABLE tasks ADD CONSTRAINT tasks_version_positive
    CHECK ((version >= 1));
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
