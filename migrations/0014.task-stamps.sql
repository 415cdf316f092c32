-- When each task last changed, in a narrow table of its own: its place in the changes feed
-- (change_seq) and its updated_at, with the two indexes that walk them (the feed, and the
-- listing's sort=updated_at). tasks keeps both columns, unindexed: a write that changes
-- neither an indexed column nor the row's size much (a completion toggle, a title edit...)
-- is then a HOT update of tasks, which writes none of its dozen indexes, and the index
-- entries it needs are three, here. Measured in bench/RESULTS.md ("task_stamps"): a toggle's
-- WAL went from ~5.1 to ~1.4-2.6 kB and its latency down by a fifth under pgbench.
--
-- A trigger keeps the stamps, so that no statement that writes tasks (nor a migration, nor
-- an operator's UPDATE) can forget them: a task's insert adds its stamp, and an update that
-- moves its change_seq or updated_at updates it, in the same transaction. The stamp goes with the
-- task (ON DELETE CASCADE). On Citus, task_stamps is distributed by user_id and co-located
-- with tasks (docs/scaling.md); the trigger writes the co-located shard.
-- fillfactor 85: room on each page for the new version of a row, which HOT needs.
-- depends: 0013.task-reminder-count

CREATE TABLE task_stamps (
    user_id    text        NOT NULL,
    task_id    uuid        NOT NULL,
    change_seq bigint      NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, task_id)
);

-- On a Citus cluster whose tasks is already distributed, the new table joins its group
-- before anything refers to it, and the triggers below need Citus's consent (for this
-- transaction only). Plain PostgreSQL skips this block. (Not yet run on a cluster.)
DO $$
BEGIN
    -- Nested: a statement naming pg_dist_partition is planned only where it exists.
    IF to_regclass('pg_dist_partition') IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'tasks'::regclass) THEN
            PERFORM create_distributed_table('task_stamps', 'user_id', colocate_with => 'tasks');
            SET LOCAL citus.enable_unsafe_triggers = on;
        END IF;
    END IF;
END
$$;

ALTER TABLE task_stamps
    ADD CONSTRAINT task_stamps_task_fk FOREIGN KEY (user_id, task_id)
        REFERENCES tasks (user_id, id) ON DELETE CASCADE;

INSERT INTO task_stamps (user_id, task_id, change_seq, updated_at)
SELECT user_id, id, change_seq, updated_at FROM tasks;

CREATE INDEX task_stamps_user_change_idx ON task_stamps (user_id, change_seq, task_id);
CREATE INDEX task_stamps_user_updated_idx ON task_stamps (user_id, updated_at, task_id);

CREATE FUNCTION task_stamps_insert() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO task_stamps (user_id, task_id, change_seq, updated_at)
    VALUES (NEW.user_id, NEW.id, NEW.change_seq, NEW.updated_at);
    RETURN NULL;
END
$$;

-- A plain UPDATE (not an upsert: the stamp exists from the task's insert on).
CREATE FUNCTION task_stamps_update() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE task_stamps
    SET change_seq = NEW.change_seq,
        updated_at = NEW.updated_at
    WHERE user_id = NEW.user_id
      AND task_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER tasks_stamp_insert
    AFTER INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_stamps_insert();

CREATE TRIGGER tasks_stamp_update
    AFTER UPDATE OF change_seq, updated_at ON tasks
    FOR EACH ROW
    WHEN (OLD.change_seq IS DISTINCT FROM NEW.change_seq
          OR OLD.updated_at IS DISTINCT FROM NEW.updated_at)
    EXECUTE FUNCTION task_stamps_update();

DROP INDEX tasks_user_updated_idx;
DROP INDEX tasks_user_change_idx;

ALTER TABLE tasks SET (fillfactor = 85);
