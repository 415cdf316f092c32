-- Record one completed occurrence of a recurring task (seq: the task's next number, read
-- under the task's row lock; completed_at: the transaction's now(), passed in).
INSERT INTO task_completions (user_id, task_id, seq, occurrence_due, occurrence_date,
                              completed_at, occurrence_wall, occurrence_index)
VALUES (%(user_id)s, %(task_id)s, %(seq)s, %(occurrence_due)s, %(occurrence_date)s,
        %(completed_at)s, %(occurrence_wall)s, %(occurrence_index)s)
