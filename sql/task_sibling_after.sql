-- The sibling a task is to be placed right after, and the position of the sibling that
-- follows it (NULL when it is the last), leaving out the task being placed. No row when the
-- user has no such task (or it is in the trash). Walks tasks_user_tree_idx.
SELECT a.list_id, a.parent_id, a.position,
       (SELECT n.position
        FROM tasks AS n
        WHERE n.user_id = %(user_id)s
          AND coalesce(n.list_id, '00000000-0000-0000-0000-000000000000'::uuid) = coalesce(a.list_id, '00000000-0000-0000-0000-000000000000'::uuid)
          AND coalesce(n.parent_id, '00000000-0000-0000-0000-000000000000'::uuid) = coalesce(a.parent_id, '00000000-0000-0000-0000-000000000000'::uuid)
          AND n.position > a.position
          AND n.id <> %(task_id)s
          AND n.deleted_at IS NULL
        ORDER BY coalesce(n.list_id, '00000000-0000-0000-0000-000000000000'::uuid), coalesce(n.parent_id, '00000000-0000-0000-0000-000000000000'::uuid), n.position, n.id
        LIMIT 1) AS next_position
FROM tasks AS a
WHERE a.user_id = %(user_id)s
  AND a.id = %(after_id)s
  AND a.deleted_at IS NULL
