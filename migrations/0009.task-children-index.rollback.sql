-- Drop the sub-task index (the walks fall back to scanning the user's tasks).
DROP INDEX tasks_user_children_idx;
