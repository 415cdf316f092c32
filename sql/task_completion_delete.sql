-- Forget one completion record of one task of one user (the undo of the latest).
DELETE FROM task_completions
WHERE user_id = %(user_id)s
  AND task_id = %(task_id)s
  AND seq = %(seq)s
