-- One live list of one user with its open_count (open tasks, sub-tasks included, counted on
-- tasks_user_tree_idx); no row when the user has no such list.
SELECT l.id::text AS id, l.user_id, l.name, l.color, l.position, l.version,
       to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
       to_char(l.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at,
       (SELECT count(*)
        FROM tasks AS t
        WHERE t.user_id = %(user_id)s
          AND coalesce(t.list_id, '00000000-0000-0000-0000-000000000000'::uuid) = l.id
          AND NOT t.completed
          AND t.deleted_at IS NULL) AS open_count
FROM lists AS l
WHERE l.user_id = %(user_id)s
  AND l.id = %(list_id)s
  AND l.deleted_at IS NULL
