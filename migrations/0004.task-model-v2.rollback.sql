-- Undo the v2 task model: back to one flat list of tasks per user (v2 data is lost).
DROP INDEX tasks_user_due_asc_idx;
DROP INDEX tasks_user_due_desc_idx;
CREATE INDEX tasks_user_due_asc_idx ON tasks (user_id, (coalesce(due_at, 'infinity'::timestamptz)), id);
CREATE INDEX tasks_user_due_desc_idx ON tasks (user_id, (coalesce(due_at, '-infinity'::timestamptz)), id);
DROP INDEX tasks_user_tree_idx;
ALTER TABLE tasks
    DROP CONSTRAINT tasks_list_fk,
    DROP COLUMN list_id,
    DROP COLUMN parent_id,
    DROP COLUMN position,
    DROP COLUMN time_zone,
    DROP COLUMN due_date,
    DROP COLUMN due_date_start,
    DROP COLUMN completion_id,
    DROP COLUMN deleted_at,
    DROP COLUMN batch_id;
DROP TABLE user_settings;
DROP TABLE lists;
DROP FUNCTION task_position_key(bigint, uuid);
