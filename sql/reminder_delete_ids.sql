-- Remove the named reminders of one task (those a new set no longer holds).
DELETE FROM reminders
WHERE user_id = %(user_id)s
  AND task_id = %(task_id)s
  AND id = ANY (%(ids)s::uuid[])
