-- The completion records of one live task of one user, newest first. No row at all: no such
-- task; one row with a NULL seq: the task has no completion yet. occurrence_due is the
-- completed occurrence's due as the contract's text: a timestamp, or a date (all-day).
SELECT c.seq,
       coalesce(utc_text(c.occurrence_due),
                to_char(c.occurrence_date, 'YYYY-MM-DD')) AS occurrence_due,
       utc_text(c.completed_at) AS completed_at
FROM tasks AS t
LEFT JOIN task_completions AS c ON c.user_id = t.user_id AND c.task_id = t.id
WHERE t.user_id = %(user_id)s
  AND t.id = %(task_id)s
  AND t.deleted_at IS NULL
ORDER BY c.seq DESC
