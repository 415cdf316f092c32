-- The first position among the tasks of one user under one parent in one list (the nil UUID
-- stands for the inbox and for the top level), leaving out the task being placed; no row
-- when there is none. Walks tasks_user_tree_idx.
SELECT position
FROM tasks
WHERE user_id = %(user_id)s
  AND coalesce(list_id, '00000000-0000-0000-0000-000000000000'::uuid) = %(list_key)s::uuid
  AND coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid) = %(parent_key)s::uuid
  AND id <> %(task_id)s
  AND deleted_at IS NULL
ORDER BY coalesce(list_id, '00000000-0000-0000-0000-000000000000'::uuid), coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), position, id
LIMIT 1
