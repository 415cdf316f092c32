-- IMMUTABLE helpers that keep every write routable on a Citus cluster distributed by user_id
-- (docs/scaling.md). Citus refuses a non-IMMUTABLE function in the RETURNING clause of a
-- distributed write, and any non-IMMUTABLE function inside CASE/COALESCE of an UPDATE (it
-- evaluates now() once on the coordinator and cannot do that lazily). Plain PostgreSQL runs
-- the same statements.
-- depends: 0005.webhooks-outbox

-- A timestamp as the contract's text: RFC 3339 in UTC with always 6 fractional digits.
-- to_char is STABLE only because some of its patterns (TMMonth, TZ...) read the locale or
-- the session's zone; this pattern uses none of them and the value is first shifted to UTC,
-- so the result depends on the argument alone: IMMUTABLE is true. PL/pgSQL rather than SQL:
-- an IMMUTABLE SQL function over a STABLE call is never inlined, and then the SQL-function
-- executor costs more per call than PL/pgSQL's simple-expression path (measured in
-- bench/RESULTS.md, "Citus-routable writes"). STRICT: a NULL never enters the function.
CREATE FUNCTION utc_text(at timestamptz) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END
$$;

-- completed_at of a task whose completed flag becomes `completed`: the earlier completion
-- time when it stays completed, `at` (the statement's now()) when it becomes completed,
-- NULL when it is not completed. Citus evaluates the now() passed as `at` on the coordinator
-- and sends the call to the worker. PL/pgSQL, not SQL: PostgreSQL would inline a SQL body,
-- and Citus checks the inlined tree, where the CASE around now() is back.
CREATE FUNCTION completion_time(completed boolean, previous timestamptz, at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN CASE WHEN completed THEN coalesce(previous, at) END;
END
$$;
