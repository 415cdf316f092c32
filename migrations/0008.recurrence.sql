-- Recurring tasks: the rule on the task, and a record of every completed occurrence.
-- A recurring task is one row whose due moves forward when an occurrence is completed
-- (service/domain/recurrence.py computes the next one); task_completions keeps what was
-- completed, for GET .../completions and the undo of the latest. Keys lead with user_id.
-- depends: 0007.service-keys

ALTER TABLE tasks
    -- RFC 5545 RRULE text of the supported subset, as the client sent it; NULL: not recurring.
    ADD COLUMN recurrence_rule  text,
    ADD COLUMN recurrence_basis text,
    -- The local wall time (in the task's zone) of the current occurrence, as the rule gave it:
    -- the series' anchor. It differs from the due's own wall time only when the occurrence
    -- fell in a DST gap (02:30 due at 03:30), and keeps the series on 02:30 afterwards.
    -- NULL: read it from the due (set so by every client change of the due, zone or rule).
    ADD COLUMN recurrence_wall  timestamp,
    -- The index of the current occurrence in the series (0: the first due), for COUNT.
    ADD COLUMN recurrence_index integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT tasks_recurrence_rule_length
        CHECK (char_length(recurrence_rule) BETWEEN 1 AND 500),
    ADD CONSTRAINT tasks_recurrence_basis_known
        CHECK (recurrence_basis IN ('due', 'completion')),
    ADD CONSTRAINT tasks_recurrence_together
        CHECK ((recurrence_rule IS NULL) = (recurrence_basis IS NULL)
               AND (recurrence_wall IS NULL OR recurrence_rule IS NOT NULL)),
    ADD CONSTRAINT tasks_recurrence_index_range CHECK (recurrence_index >= 0),
    -- A recurring task always has a due to recur from (the API answers 422 first).
    ADD CONSTRAINT tasks_recurrence_needs_due
        CHECK (recurrence_rule IS NULL OR due_at IS NOT NULL OR due_date IS NOT NULL);

-- One row per completed occurrence of a recurring task, numbered per task (seq 1, 2, ...):
-- newest first is the primary key backwards. What the undo of the latest restores is kept
-- beside it: the occurrence's due (one of the two forms), its wall time and index.
CREATE TABLE task_completions (
    user_id         text        NOT NULL,
    task_id         uuid        NOT NULL,
    seq             integer     NOT NULL,
    occurrence_due  timestamptz,
    occurrence_date date,
    completed_at    timestamptz NOT NULL,
    occurrence_wall timestamp   NOT NULL,
    occurrence_index integer    NOT NULL,
    PRIMARY KEY (user_id, task_id, seq),
    FOREIGN KEY (user_id, task_id) REFERENCES tasks (user_id, id) ON DELETE CASCADE,
    CONSTRAINT task_completions_user_id_format CHECK (user_id ~ '^[A-Za-z0-9._~@|:+-]{1,128}$'),
    CONSTRAINT task_completions_seq_positive CHECK (seq >= 1),
    CONSTRAINT task_completions_one_due CHECK ((occurrence_due IS NULL) <> (occurrence_date IS NULL)),
    CONSTRAINT task_completions_index_range CHECK (occurrence_index >= 0)
);
