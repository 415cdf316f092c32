-- Lock one task of one user for a change of place (list, parent, position) and read what the
-- rules need: its place, version, and its sub-tree (the ids and how many levels lie below it).
-- No row when the user has no such task (or it is in the trash).
WITH RECURSIVE locked AS (
    SELECT id, list_id, parent_id, position, version, completed
    FROM tasks
    WHERE user_id = %(user_id)s
      AND id = %(task_id)s
      AND deleted_at IS NULL
    FOR UPDATE
),
subtree (id, list_key, depth) AS (
    SELECT id, coalesce(list_id, '00000000-0000-0000-0000-000000000000'::uuid), 0
    FROM locked
    UNION ALL
    SELECT c.id, s.list_key, s.depth + 1
    FROM subtree AS s, tasks AS c
    WHERE c.user_id = %(user_id)s
      AND coalesce(c.list_id, '00000000-0000-0000-0000-000000000000'::uuid) = s.list_key
      AND coalesce(c.parent_id, '00000000-0000-0000-0000-000000000000'::uuid) = s.id
      AND s.depth < 8
)
SELECT locked.list_id, locked.parent_id, locked.position, locked.version, locked.completed,
       (SELECT max(depth) FROM subtree) AS height,
       (SELECT array_agg(id) FROM subtree WHERE depth > 0) AS descendants
FROM locked
