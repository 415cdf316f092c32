-- Undo the task stamps: tasks' own indexes on updated_at and change_seq come back.
ALTER TABLE tasks RESET (fillfactor);
CREATE INDEX tasks_user_change_idx ON tasks (user_id, change_seq, id);
CREATE INDEX tasks_user_updated_idx ON tasks (user_id, updated_at, id);
DROP TRIGGER tasks_stamp_update ON tasks;
DROP TRIGGER tasks_stamp_insert ON tasks;
DROP FUNCTION task_stamps_update();
DROP FUNCTION task_stamps_insert();
DROP TABLE task_stamps;
