-- Move the given sub-tasks of one user (a moved task's descendants) to the task's new list.
UPDATE tasks
SET list_id    = %(list_id)s::uuid,
    version    = version + 1,
    updated_at = now()
WHERE user_id = %(user_id)s
  AND id = ANY (%(ids)s::uuid[])
  AND list_id IS DISTINCT FROM %(list_id)s::uuid
