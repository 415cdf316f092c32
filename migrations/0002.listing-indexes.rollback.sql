-- Drop the listing indexes (the pg_trgm extension stays: other objects may use it).
DROP INDEX IF EXISTS tasks_search_trgm_idx;
DROP INDEX tasks_user_order_desc_idx;
DROP INDEX tasks_user_order_asc_idx;
DROP INDEX tasks_user_title_idx;
DROP INDEX tasks_user_priority_idx;
DROP INDEX tasks_user_due_desc_idx;
DROP INDEX tasks_user_due_asc_idx;
DROP INDEX tasks_user_updated_idx;
