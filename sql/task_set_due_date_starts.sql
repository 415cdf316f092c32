-- Store new day starts of some of one user's all-day tasks (after the user's zone changed).
-- The start is an ordering key, not part of what the task shows: version does not move.
UPDATE tasks AS t
SET due_date_start = v.due_date_start
FROM unnest(%(ids)s::uuid[], %(starts)s::timestamptz[]) AS v (id, due_date_start)
WHERE t.user_id = %(user_id)s
  AND t.id = v.id
