-- The trash: a deleted task or list keeps its row with deleted_at and batch_id set (columns
-- of 0004) until it is restored or purged. Two partial indexes, so live rows never pay for
-- them: a task or list enters them only when it is deleted (one index write then).
-- depends: 0009.task-children-index

-- GET /trash (newest deletion first, keyset on deleted_at, id), a batch's restore and
-- purge (by batch_id), and the retention purge (oldest first).
CREATE INDEX tasks_user_trash_idx ON tasks (user_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX tasks_user_batch_idx ON tasks (user_id, batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX lists_user_trash_idx ON lists (user_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
