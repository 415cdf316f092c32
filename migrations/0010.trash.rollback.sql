DROP INDEX lists_user_trash_idx;
DROP INDEX tasks_user_batch_idx;
DROP INDEX tasks_user_trash_idx;
