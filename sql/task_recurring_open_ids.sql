-- The open recurring tasks of one user, locked in id order (a bulk completion completes the
-- current occurrence of each; the order keeps two such bulks from deadlocking).
SELECT id
FROM tasks
WHERE user_id = %(user_id)s
  AND recurrence_rule IS NOT NULL
  AND NOT completed
  AND deleted_at IS NULL
ORDER BY id
FOR UPDATE
