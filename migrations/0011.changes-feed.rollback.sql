DROP TABLE change_tombstones;
DROP INDEX lists_user_change_idx;
DROP INDEX tasks_user_change_idx;
ALTER TABLE lists DROP COLUMN change_seq;
ALTER TABLE tasks DROP COLUMN change_seq;
DROP TABLE change_counters;
