-- Create the tasks table: one row per task, owned by user_id.
-- Every key starts with user_id so the table can be distributed by it (Citus-style).
-- depends:

CREATE TYPE task_priority AS ENUM ('low', 'normal', 'high');

CREATE TABLE tasks (
    user_id      text          NOT NULL,
    id           uuid          NOT NULL DEFAULT gen_random_uuid(),
    title        text          NOT NULL,
    description  text,
    completed    boolean       NOT NULL DEFAULT false,
    completed_at timestamptz,
    priority     task_priority NOT NULL DEFAULT 'normal',
    due_at       timestamptz,
    tags         text[]        NOT NULL DEFAULT '{}',
    "order"      integer,
    version      integer       NOT NULL DEFAULT 1,
    created_at   timestamptz   NOT NULL DEFAULT now(),
    updated_at   timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, id),
    CONSTRAINT tasks_user_id_format CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$'),
    CONSTRAINT tasks_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT tasks_description_length CHECK (char_length(description) <= 1000),
    CONSTRAINT tasks_tags_count CHECK (cardinality(tags) <= 20),
    CONSTRAINT tasks_completed_at_set CHECK ((completed_at IS NOT NULL) = completed),
    CONSTRAINT tasks_version_positive CHECK (version >= 1)
);

-- The default listing order: a user's tasks by creation time, ties broken by id.
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at, id);
