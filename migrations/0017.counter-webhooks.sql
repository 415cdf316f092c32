-- How many webhooks each user has, on the user's change counter row: a write statement on
-- the request path takes its counter tick only `WHERE webhooks = 0` in its outbox-free form
-- (task_insert_plain, task_toggle_plain), so a user without a subscription is served by a
-- statement that writes no event and opens neither the events nor the deliveries table; for
-- any other user that tick matches nothing, the statement writes nothing, and the service
-- runs the form with the outbox (docs/webhooks.md, "Users without webhooks"). Measured in
-- bench/RESULTS.md ("the outbox-free create and toggle").
--
-- A trigger on webhooks keeps the count, so that no statement (nor an operator's INSERT)
-- can add a webhook the count misses: the insert of a webhook raises it in the same
-- transaction, under the counter row's lock, and its delete lowers it. A write that ticks
-- the counter waits for that lock, then re-reads the row (READ COMMITTED), so it never
-- passes the `webhooks = 0` test once a webhook has committed, nor once one is being
-- created. On Citus, the trigger writes the co-located shard of change_counters (same
-- user_id), as tasks' stamp triggers do (docs/scaling.md).
-- depends: 0016.validate-checks

-- No webhook may be created or deleted between the count below and the trigger.
LOCK TABLE webhooks IN SHARE ROW EXCLUSIVE MODE;

DO $$
BEGIN
    IF to_regclass('pg_dist_partition') IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'webhooks'::regclass) THEN
            SET LOCAL citus.enable_unsafe_triggers = on;
        END IF;
    END IF;
END
$$;

-- No CHECK (webhooks >= 0): every write updates this row, and a count off in either
-- direction but to zero only sends the write to the outbox form, which is always right.
ALTER TABLE change_counters ADD COLUMN webhooks integer NOT NULL DEFAULT 0;

INSERT INTO change_counters AS cc (user_id, seq, webhooks)
SELECT user_id, 1, count(*) FROM webhooks GROUP BY user_id
ON CONFLICT (user_id) DO UPDATE SET webhooks = excluded.webhooks;

CREATE FUNCTION webhooks_count_insert() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- seq 1 for a user who never wrote: a counter value no object carries, as after a
    -- write that changed nothing.
    INSERT INTO change_counters AS cc (user_id, seq, webhooks)
    VALUES (NEW.user_id, 1, 1)
    ON CONFLICT (user_id) DO UPDATE SET webhooks = cc.webhooks + 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION webhooks_count_delete() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE change_counters SET webhooks = webhooks - 1 WHERE user_id = OLD.user_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER webhooks_count_insert
    AFTER INSERT ON webhooks
    FOR EACH ROW EXECUTE FUNCTION webhooks_count_insert();

CREATE TRIGGER webhooks_count_delete
    AFTER DELETE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION webhooks_count_delete();
