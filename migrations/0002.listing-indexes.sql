-- One index per listing sort, each led by user_id, so every page is a short range scan
-- that starts at the cursor: its cost does not grow with the page's depth.
-- Tasks without due_at / order sort last in both directions, so those keys map NULL to a
-- value beyond every real one (+/- infinity for timestamps, outside int32 for "order"),
-- and each direction gets its own index. Titles compare by code point of the lower-cased
-- title, whatever the database's collation.
-- The text search index needs pg_trgm: it is created only where the extension is
-- available (the search works without it, only slower).
-- depends: 0001.create-tasks

CREATE INDEX tasks_user_updated_idx ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_due_asc_idx ON tasks (user_id, (coalesce(due_at, 'infinity'::timestamptz)), id);
CREATE INDEX tasks_user_due_desc_idx ON tasks (user_id, (coalesce(due_at, '-infinity'::timestamptz)), id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);
CREATE INDEX tasks_user_title_idx ON tasks (user_id, (lower(title) COLLATE "C"), id);
CREATE INDEX tasks_user_order_asc_idx ON tasks (user_id, (coalesce("order"::bigint, 2147483648)), id);
CREATE INDEX tasks_user_order_desc_idx ON tasks (user_id, (coalesce("order"::bigint, -2147483649)), id);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        RAISE NOTICE 'pg_trgm is not available: text search works without its index';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'no privilege to create pg_trgm: text search works without its index';
        RETURN;
    END;
    CREATE INDEX tasks_search_trgm_idx ON tasks
        USING gin ((title || ' ' || coalesce(description, '')) gin_trgm_ops);
END
$$;
