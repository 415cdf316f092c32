-- A page of one user's tasks in tree order, ascending: by list (inbox first), then parent (top
-- level first), then position (byte order), ties on id. Within one list_id and parent_id
-- filter this is the siblings' manual order. It walks tasks_user_tree_idx; a parent_id filter
-- without list_id takes the parent's list from the parent row (the sub-select), so the page is
-- still one range of that index.
-- The page starts after the cursor's (list, parent, position, id) when after_id is set;
-- after_key holds the first three as text. A NULL filter parameter means "no such filter"
-- (see task_list_created_at_asc.sql for the prepared first page).
SELECT id::text AS id, user_id, title, description, completed,
       to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS completed_at,
       priority,
       to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS due_at,
       tags, "order", version,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
       to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at,
       recurrence_rule, recurrence_basis,
       list_id::text AS list_id, parent_id::text AS parent_id, position, time_zone, due_date,
       to_char(deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS deleted_at,
       reminder_count,
       ARRAY[coalesce(list_id, '00000000-0000-0000-0000-000000000000'::uuid)::text, coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid)::text,
             position] AS sort_key
FROM tasks
WHERE user_id = %(user_id)s
  AND (%(completed)s::boolean IS NULL OR completed = %(completed)s::boolean)
  AND (%(priority)s::task_priority IS NULL OR priority = %(priority)s::task_priority)
  AND (%(tags)s::text[] IS NULL OR tags @> %(tags)s::text[])
  AND (%(due_before)s::timestamptz IS NULL OR due_at < %(due_before)s::timestamptz)
  AND (%(due_after)s::timestamptz IS NULL OR due_at >= %(due_after)s::timestamptz)
  AND (%(q_lead)s::text IS NULL
       OR ((title || ' ' || coalesce(description, '')) ILIKE %(q_lead)s::text
           AND (title || ' ' || coalesce(description, '')) ILIKE ALL (%(q_rest)s::text[])))
  AND (%(list_key)s::uuid IS NULL
       OR coalesce(list_id, '00000000-0000-0000-0000-000000000000'::uuid) = %(list_key)s::uuid)
  AND (%(parent_key)s::uuid IS NULL
       OR coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid) = %(parent_key)s::uuid)
  AND deleted_at IS NULL
  AND (%(parent_key)s::uuid IS NULL OR %(list_key)s::uuid IS NOT NULL
       OR %(parent_key)s::uuid = '00000000-0000-0000-0000-000000000000'::uuid
       OR coalesce(list_id, '00000000-0000-0000-0000-000000000000'::uuid)
          = (SELECT coalesce(p.list_id, '00000000-0000-0000-0000-000000000000'::uuid)
             FROM tasks AS p
             WHERE p.user_id = %(user_id)s AND p.id = %(parent_key)s::uuid))
  AND (%(after_id)s::uuid IS NULL
       OR (coalesce(list_id, '00000000-0000-0000-0000-000000000000'::uuid), coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), position, id)
          > ((%(after_key)s::text[])[1]::uuid, (%(after_key)s::text[])[2]::uuid,
             (%(after_key)s::text[])[3], %(after_id)s::uuid))
-- tasks.: a bare name in ORDER BY would mean the text output column, not the indexed one.
ORDER BY coalesce(list_id, '00000000-0000-0000-0000-000000000000'::uuid),
         coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid),
         tasks.position, tasks.id
LIMIT %(limit)s
