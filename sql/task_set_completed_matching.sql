-- Set the completed flag of every task of one user that matches the status filter (NULL: all).
-- Only tasks whose flag actually changes are written, so the row count is the number changed
-- and version / updated_at move exactly for those; completed_at follows the flag. The filter
-- takes whole sub-trees (a completed task never has an open descendant, so completing every
-- pending task or reopening every completed one keeps that); completion_id is cleared: these
-- completions closed nothing by cascade. completion_time, not a CASE around now(): Citus
-- refuses that in an UPDATE.
UPDATE tasks
SET completed     = %(set_completed)s::boolean,
    completed_at  = completion_time(%(set_completed)s::boolean, completed_at, now()),
    completion_id = NULL,
    version       = version + 1,
    updated_at    = now()
WHERE user_id = %(user_id)s
  AND (%(completed)s::boolean IS NULL OR completed = %(completed)s::boolean)
  AND completed <> %(set_completed)s::boolean
  AND deleted_at IS NULL
  -- Completing leaves open recurring tasks to the recurrence path (each completes its
  -- current occurrence and moves on: service/data/recurrence.py).
  AND (recurrence_rule IS NULL OR NOT %(set_completed)s::boolean)
