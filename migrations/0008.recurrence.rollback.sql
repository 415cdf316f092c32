-- Undo recurring tasks: the completion records and the rule columns go (their data is lost).
DROP TABLE task_completions;
ALTER TABLE tasks
    DROP CONSTRAINT tasks_recurrence_needs_due,
    DROP CONSTRAINT tasks_recurrence_index_range,
    DROP CONSTRAINT tasks_recurrence_together,
    DROP CONSTRAINT tasks_recurrence_basis_known,
    DROP CONSTRAINT tasks_recurrence_rule_length,
    DROP COLUMN recurrence_index,
    DROP COLUMN recurrence_wall,
    DROP COLUMN recurrence_basis,
    DROP COLUMN recurrence_rule;
