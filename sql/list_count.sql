-- How many live lists one user has.
SELECT count(*) AS lists
FROM lists
WHERE user_id = %(user_id)s
  AND deleted_at IS NULL
