-- The changes feed (docs/sync.md): a per-user change counter, the counter value of each
-- task's and list's latest write, and tombstones of what was purged for good.
-- depends: 0010.trash

-- One row per user who ever wrote: `seq` is the user's change counter. Every write
-- statement on tasks or lists takes the next value in the same statement (an INSERT ... ON
-- CONFLICT DO UPDATE on this row, which row-locks it until commit) and stamps the rows it
-- writes with it: so a user's writes commit in counter order, and a reader that has seen
-- value N has seen every commit below N. `expired_through`: tombstones at or below it have
-- been purged (90 days), so a cursor below it may have missed a deletion (410).
CREATE TABLE change_counters (
    user_id         text   NOT NULL,
    seq             bigint NOT NULL,
    expired_through bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id),
    CONSTRAINT change_counters_user_id_format CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$'),
    CONSTRAINT change_counters_seq_positive CHECK (seq >= 1)
);

-- 0: written before the feed existed (a full sync still sends it).
ALTER TABLE tasks ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE lists ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;

-- GET /changes: a user's objects in counter order after a cursor.
CREATE INDEX tasks_user_change_idx ON tasks (user_id, change_seq, id);
CREATE INDEX lists_user_change_idx ON lists (user_id, change_seq, id);

-- A task or list deleted for good (a purge of the trash): its id and the counter value of
-- the purge, kept 90 days for the feed's `op: delete`.
CREATE TABLE change_tombstones (
    user_id    text        NOT NULL,
    kind       text        NOT NULL,
    id         uuid        NOT NULL,
    seq        bigint      NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind, id),
    CONSTRAINT change_tombstones_kind CHECK (kind IN ('task', 'list'))
);
CREATE INDEX change_tombstones_user_seq_idx ON change_tombstones (user_id, seq, kind, id);
-- The worker's purge finds old tombstones across users by age.
CREATE INDEX change_tombstones_age_idx ON change_tombstones (deleted_at);
