-- Cheaper integrity checks, the same rules. Every row a statement writes is checked, and two
-- costs showed in PostgreSQL's CPU per task write (bench/RESULTS.md, "integrity checks"):
-- - the user id format: the regex engine expands a bounded repeat such as {1,128} into that
--   many states, and matching it took ~15 us per checked row (two per task write: the task
--   and the change counter). Now a plain repeat, and the length by char_length.
-- - the 18 CHECK constraints of tasks: for each statement, PostgreSQL reads every CHECK's
--   stored expression back from its text form and prepares it, ~25 us more than one check
--   calling a function whose expressions PL/pgSQL prepares once per session. tasks now has
--   that one check, tasks_row_check(); it raises check_violation naming the constraint that
--   failed, under its old name, the first in name order as PostgreSQL picked it, with
--   PostgreSQL's own message: what reads the name (service/data/recurrence.py) is unchanged.
--   The rules are written once, in tasks_row_violation(), and its columns are passed one by
--   one, not as a row: a Citus shard's row type is not tasks'.
-- The new constraints come NOT VALID (no scan under the exclusive lock this takes); 0016
-- validates them in a transaction of its own, under a lock that lets reads and writes go on.
-- The rows already hold: they passed the equivalent checks.
-- One subcommand per ALTER TABLE: Citus takes ADD CONSTRAINT only alone.
-- depends: 0014.task-stamps

CREATE FUNCTION tasks_row_violation(
    user_id text, id uuid, title text, description text, completed boolean,
    completed_at timestamptz, due_at timestamptz, tags text[], version integer, parent_id uuid,
    time_zone text, due_date date, due_date_start timestamptz, completion_id uuid,
    deleted_at timestamptz, batch_id uuid, recurrence_rule text, recurrence_basis text,
    recurrence_wall timestamp, recurrence_index integer, reminder_count smallint
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- The first rule broken, in constraint name order; NULL when none is. As in a CHECK, a
    -- rule whose expression is NULL holds.
    SELECT CASE
        WHEN ((completed_at IS NOT NULL) = completed) IS FALSE THEN 'tasks_completed_at_set'
        WHEN (completion_id IS NULL OR completed) IS FALSE THEN 'tasks_completion_id_completed'
        WHEN (char_length(description) <= 1000) IS FALSE THEN 'tasks_description_length'
        WHEN ((due_date IS NULL) = (due_date_start IS NULL)) IS FALSE
            THEN 'tasks_due_date_start_set'
        WHEN (due_at IS NULL OR due_date IS NULL) IS FALSE THEN 'tasks_due_one_form'
        WHEN (parent_id <> id) IS FALSE THEN 'tasks_parent_not_self'
        WHEN (recurrence_basis IN ('due', 'completion')) IS FALSE
            THEN 'tasks_recurrence_basis_known'
        WHEN (recurrence_index >= 0) IS FALSE THEN 'tasks_recurrence_index_range'
        WHEN (recurrence_rule IS NULL OR due_at IS NOT NULL OR due_date IS NOT NULL) IS FALSE
            THEN 'tasks_recurrence_needs_due'
        WHEN (char_length(recurrence_rule) BETWEEN 1 AND 500) IS FALSE
            THEN 'tasks_recurrence_rule_length'
        WHEN ((recurrence_rule IS NULL) = (recurrence_basis IS NULL)
              AND (recurrence_wall IS NULL OR recurrence_rule IS NOT NULL)) IS FALSE
            THEN 'tasks_recurrence_together'
        WHEN (reminder_count >= 0) IS FALSE THEN 'tasks_reminder_count_range'
        WHEN (cardinality(tags) <= 20) IS FALSE THEN 'tasks_tags_count'
        WHEN (char_length(time_zone) BETWEEN 1 AND 64) IS FALSE THEN 'tasks_time_zone_length'
        WHEN (char_length(title) BETWEEN 1 AND 200) IS FALSE THEN 'tasks_title_length'
        WHEN ((deleted_at IS NULL) = (batch_id IS NULL)) IS FALSE THEN 'tasks_trash_together'
        WHEN (user_id ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(user_id) <= 128) IS FALSE
            THEN 'tasks_user_id_format'
        WHEN (version >= 1) IS FALSE THEN 'tasks_version_positive'
    END
$$;

CREATE FUNCTION tasks_row_check(
    user_id text, id uuid, title text, description text, completed boolean,
    completed_at timestamptz, due_at timestamptz, tags text[], version integer, parent_id uuid,
    time_zone text, due_date date, due_date_start timestamptz, completion_id uuid,
    deleted_at timestamptz, batch_id uuid, recurrence_rule text, recurrence_basis text,
    recurrence_wall timestamp, recurrence_index integer, reminder_count smallint
) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    violated text := tasks_row_violation(
        user_id, id, title, description, completed, completed_at, due_at, tags, version,
        parent_id, time_zone, due_date, due_date_start, completion_id, deleted_at, batch_id,
        recurrence_rule, recurrence_basis, recurrence_wall, recurrence_index, reminder_count);
BEGIN
    IF violated IS NOT NULL THEN
        RAISE EXCEPTION 'new row for relation "tasks" violates check constraint "%"', violated
            USING ERRCODE = 'check_violation', CONSTRAINT = violated, TABLE = 'tasks';
    END IF;
    RETURN true;
END
$$;

ALTER TABLE tasks DROP CONSTRAINT tasks_completed_at_set;
ALTER TABLE tasks DROP CONSTRAINT tasks_completion_id_completed;
ALTER TABLE tasks DROP CONSTRAINT tasks_description_length;
ALTER TABLE tasks DROP CONSTRAINT tasks_due_date_start_set;
ALTER TABLE tasks DROP CONSTRAINT tasks_due_one_form;
ALTER TABLE tasks DROP CONSTRAINT tasks_parent_not_self;
ALTER TABLE tasks DROP CONSTRAINT tasks_recurrence_basis_known;
ALTER TABLE tasks DROP CONSTRAINT tasks_recurrence_index_range;
ALTER TABLE tasks DROP CONSTRAINT tasks_recurrence_needs_due;
ALTER TABLE tasks DROP CONSTRAINT tasks_recurrence_rule_length;
ALTER TABLE tasks DROP CONSTRAINT tasks_recurrence_together;
ALTER TABLE tasks DROP CONSTRAINT tasks_reminder_count_range;
ALTER TABLE tasks DROP CONSTRAINT tasks_tags_count;
ALTER TABLE tasks DROP CONSTRAINT tasks_time_zone_length;
ALTER TABLE tasks DROP CONSTRAINT tasks_title_length;
ALTER TABLE tasks DROP CONSTRAINT tasks_trash_together;
ALTER TABLE tasks DROP CONSTRAINT tasks_user_id_format;
ALTER TABLE tasks DROP CONSTRAINT tasks_version_positive;
ALTER TABLE tasks ADD CONSTRAINT tasks_row_check CHECK (tasks_row_check(
        user_id, id, title, description, completed, completed_at, due_at, tags, version, parent_id,
        time_zone, due_date, due_date_start, completion_id, deleted_at, batch_id,
        recurrence_rule, recurrence_basis, recurrence_wall, recurrence_index, reminder_count)) NOT VALID;

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
