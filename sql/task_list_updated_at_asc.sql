-- A page of one user's tasks by last change, ascending; ties break on id.
-- The page starts after the cursor's (key, id) when after_id is set. A NULL filter parameter
-- means "no such filter": a filtered or later page runs unprepared, so each plan sees the
-- values and drops the unused predicates (and the keyset condition becomes a range on the
-- sort's index). The first page with no filter runs prepared: one plan serves them all.
-- The id and the timestamps come back as the contract's text (timestamps: RFC 3339, UTC,
-- always 6 fractional digits): formatting them here saves building a UUID or datetime
-- object for each value in Python and formatting it again.
SELECT t.*, s.updated_at AS sort_key
-- The order comes from the task's stamp (migration 0014), walked on its index; each stamp's
-- task is looked up by its key and filtered. OFFSET 0 keeps that lookup a subquery per
-- stamp: flattened into a join, the planner may prefer to read the user's matching tasks
-- whole and sort them.
FROM task_stamps AS s
CROSS JOIN LATERAL (
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
           reminder_count
    FROM tasks
    WHERE tasks.user_id = %(user_id)s
      AND tasks.id = s.task_id
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
    OFFSET 0
) AS t
WHERE s.user_id = %(user_id)s
  AND (%(after_id)s::uuid IS NULL
       OR (s.updated_at, s.task_id) > (%(after_key)s::timestamptz, %(after_id)s::uuid))
-- s.: a bare name in ORDER BY would mean the text output column, not the indexed one.
ORDER BY s.updated_at, s.task_id
LIMIT %(limit)s
