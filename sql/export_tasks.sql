-- Every task of one user for the export, trashed ones included (with deleted_at and
-- batch_id), oldest first; read through a server-side cursor, a page at a time.
SELECT id::text AS id, user_id, title, description, completed,
       utc_text(completed_at) AS completed_at,
       priority,
       utc_text(due_at) AS due_at,
       tags, "order", version,
       utc_text(created_at) AS created_at,
       utc_text(updated_at) AS updated_at,
       recurrence_rule, recurrence_basis,
       list_id::text AS list_id, parent_id::text AS parent_id, position, time_zone, due_date,
       utc_text(deleted_at) AS deleted_at,
       batch_id::text AS batch_id
FROM tasks
WHERE user_id = %(user_id)s
ORDER BY created_at, id
