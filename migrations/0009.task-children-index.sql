-- A task's sub-tasks by (user_id, parent_id), partial: only sub-tasks have an entry, so a
-- top-level task's create, toggle or delete never writes it. The cascade of a completion,
-- sub-tree deletes and moves walk it. The tree index of 0004 cannot serve those walks: its
-- coalesce(parent_id, nil) key is nil for almost every row, so the planner (rightly, by its
-- statistics) expects a lookup by parent to match the user's whole set and scans it.
-- depends: 0008.recurrence

CREATE INDEX tasks_user_children_idx ON tasks (user_id, parent_id) WHERE parent_id IS NOT NULL;
