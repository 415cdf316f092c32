-- Delete every task of one user that matches the status filter (NULL: all of them).
DELETE FROM tasks
WHERE user_id = %(user_id)s
  AND (%(completed)s::boolean IS NULL OR completed = %(completed)s::boolean)
