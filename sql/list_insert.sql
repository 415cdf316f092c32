-- Create one list for one user; list_get reads it back with its counts.
INSERT INTO lists (user_id, name, color, position)
VALUES (%(user_id)s, %(name)s, %(color)s, %(position)s)
RETURNING id
