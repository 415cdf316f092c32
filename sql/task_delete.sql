-- Delete one task of one user and return what it was; no row when there is none.
-- if_versions (If-Match): only while the version is one of them; NULL means unconditional.
DELETE FROM tasks
WHERE user_id = %(user_id)s
  AND id = %(task_id)s
  AND (%(if_versions)s::integer[] IS NULL OR version = ANY (%(if_versions)s::integer[]))
RETURNING id, user_id, title, description, completed, completed_at, priority, due_at,
          tags, "order", version, created_at, updated_at
