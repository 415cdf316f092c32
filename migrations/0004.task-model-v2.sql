-- The v2 task model: lists, sub-tasks with manual order, all-day dates, time zones, user
-- settings, and the columns the trash needs (deleted_at, batch_id). Every key and foreign
-- key leads with user_id, so lists and user_settings distribute by it beside tasks.
-- Recurrence adds its own columns and the completions table in a later migration.
-- depends: 0003.idempotency-keys

-- A creation-time order key in the fractional-indexing format of service/domain/positions.py:
-- "i" and nine base-62 digits of the microseconds since 1970 (an integer part, so keys made
-- later sort later), then eight hex digits of `salt` and "V" (a fraction that makes keys of
-- the same microsecond distinct and never ends in "0"). Keys compare as byte strings.
-- The service passes the same key computed in Python; this is the default for rows inserted
-- otherwise, and the backfill of rows that existed before positions.
CREATE FUNCTION task_position_key(micros bigint, salt uuid) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT 'i'
           || string_agg(substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
                                mod(div(micros, power(62::numeric, k)), 62)::integer + 1, 1),
                         '' ORDER BY k DESC)
           || substr(replace(salt::text, '-', ''), 1, 8) || 'V'
    FROM generate_series(0, 8) AS k
$$;

CREATE TABLE lists (
    user_id    text        NOT NULL,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    name       text        NOT NULL,
    color      text,
    position   text        COLLATE "C" NOT NULL
               DEFAULT task_position_key((extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
                                         gen_random_uuid()),
    version    integer     NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The trash: set together when the list is deleted (one batch with its tasks).
    deleted_at timestamptz,
    batch_id   uuid,
    PRIMARY KEY (user_id, id),
    CONSTRAINT lists_user_id_format CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$'),
    CONSTRAINT lists_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT lists_color_format CHECK (color ~ '^#[0-9a-f]{6}$'),
    CONSTRAINT lists_version_positive CHECK (version >= 1),
    CONSTRAINT lists_trash_together CHECK ((deleted_at IS NULL) = (batch_id IS NULL))
);

-- GET /lists: a user's lists in position order.
CREATE INDEX lists_user_position_idx ON lists (user_id, position, id);

-- One row per user who changed a setting; a user without a row has the defaults.
CREATE TABLE user_settings (
    user_id    text        NOT NULL,
    time_zone  text        NOT NULL DEFAULT 'UTC',
    week_start smallint    NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id),
    CONSTRAINT user_settings_user_id_format CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$'),
    CONSTRAINT user_settings_time_zone_length CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    CONSTRAINT user_settings_week_start_range CHECK (week_start BETWEEN 1 AND 7)
);

ALTER TABLE tasks
    ADD COLUMN list_id        uuid,
    -- No foreign key: the one that parent_id needs would make every task DELETE look for
    -- children by (user_id, parent_id), an index every task write would pay for. The write
    -- statements check the parent (same user, same list, depth, no cycle) themselves.
    ADD COLUMN parent_id      uuid,
    ADD COLUMN position       text COLLATE "C",
    ADD COLUMN time_zone      text,
    ADD COLUMN due_date       date,
    -- The instant due_date starts in the task's zone (its own, else the user's, else UTC):
    -- what sort=due_at orders all-day tasks by. Kept by the writes and by a settings change.
    ADD COLUMN due_date_start timestamptz,
    -- The completion that closed this task: a fresh id on a task completed by itself, and
    -- the same id on each open descendant that its completion closed (the cascade).
    -- Reopening the task reopens exactly the descendants that carry its id; NULL while open.
    ADD COLUMN completion_id  uuid,
    -- The trash: set together when the task is deleted (one batch with its sub-tasks).
    ADD COLUMN deleted_at     timestamptz,
    ADD COLUMN batch_id       uuid,
    ADD CONSTRAINT tasks_list_fk FOREIGN KEY (user_id, list_id)
        REFERENCES lists (user_id, id) ON DELETE CASCADE,
    ADD CONSTRAINT tasks_parent_not_self CHECK (parent_id <> id),
    ADD CONSTRAINT tasks_due_one_form CHECK (due_at IS NULL OR due_date IS NULL),
    ADD CONSTRAINT tasks_due_date_start_set CHECK ((due_date IS NULL) = (due_date_start IS NULL)),
    ADD CONSTRAINT tasks_time_zone_length CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    ADD CONSTRAINT tasks_completion_id_completed CHECK (completion_id IS NULL OR completed),
    ADD CONSTRAINT tasks_trash_together CHECK ((deleted_at IS NULL) = (batch_id IS NULL));

UPDATE tasks
SET position = task_position_key((extract(epoch FROM created_at) * 1000000)::bigint, id);

ALTER TABLE tasks
    ALTER COLUMN position SET NOT NULL,
    ALTER COLUMN position SET DEFAULT
        task_position_key((extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
                          gen_random_uuid());

-- The one new index on tasks: its tree order, list (inbox first) then parent (top level
-- first) then position. It serves sort=position (both directions), the list_id and
-- parent_id filters in that order, the sub-tree walks, and a list's open_count.
-- NULL list and parent map to the nil UUID so the keyset is one row comparison.
CREATE INDEX tasks_user_tree_idx ON tasks (
    user_id,
    (coalesce(list_id, '00000000-0000-0000-0000-000000000000'::uuid)),
    (coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid)),
    position,
    id
);

-- sort=due_at orders all-day tasks by the start of their day: the due indexes take
-- due_date_start where due_at is NULL (the same two indexes, replaced).
DROP INDEX tasks_user_due_asc_idx;
DROP INDEX tasks_user_due_desc_idx;
CREATE INDEX tasks_user_due_asc_idx
    ON tasks (user_id, (coalesce(due_at, due_date_start, 'infinity'::timestamptz)), id);
CREATE INDEX tasks_user_due_desc_idx
    ON tasks (user_id, (coalesce(due_at, due_date_start, '-infinity'::timestamptz)), id);
