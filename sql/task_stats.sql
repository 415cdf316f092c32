-- Counts over one user's tasks; overdue = not completed and due before now.
SELECT count(*) AS total,
       count(*) FILTER (WHERE completed) AS completed,
       count(*) FILTER (WHERE NOT completed) AS pending,
       count(*) FILTER (WHERE NOT completed AND due_at < now()) AS overdue
FROM tasks
WHERE user_id = %(user_id)s
