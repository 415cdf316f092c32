-- Whether one user has a live list with this id (no row otherwise, also for another user's).
SELECT true AS found
FROM lists
WHERE user_id = %(user_id)s
  AND id = %(list_id)s
  AND deleted_at IS NULL
