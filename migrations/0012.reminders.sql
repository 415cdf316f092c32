-- Reminders on tasks: absolute ({"at"}) or relative to the due ({"before_due": minutes}).
-- fire_at is the instant the reminder fires (UTC): `at`, or the task's due (due_at, or the
-- start of due_date in the task's zone: due_date_start) minus before_due minutes; relative
-- ones are recomputed whenever the due moves (a client change, a recurring task advancing
-- or an undo). Keys lead with user_id and the foreign key to tasks includes it: distributed
-- by user_id beside tasks on Citus; the worker claims one user's due reminders at a time (a
-- single-shard statement), see docs/reminders.md.
-- depends: 0011.changes-feed

-- A due minus a whole number of minutes. timestamptz - interval is only STABLE because an
-- interval of days or months depends on the session's zone; minutes never do, so this is
-- IMMUTABLE and may stand in an UPDATE's SET over a column (Citus rule, docs/scaling.md).
CREATE FUNCTION reminder_fire_at(due timestamptz, minutes integer) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN due - make_interval(mins => minutes);
END
$$;

CREATE TABLE reminders (
    user_id     text        NOT NULL,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    task_id     uuid        NOT NULL,
    at          timestamptz,
    before_due  integer,
    fire_at     timestamptz NOT NULL,
    state       text        NOT NULL DEFAULT 'scheduled',
    fired_at    timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, id),
    FOREIGN KEY (user_id, task_id) REFERENCES tasks (user_id, id) ON DELETE CASCADE,
    CONSTRAINT reminders_one_form CHECK ((at IS NULL) <> (before_due IS NULL)),
    CONSTRAINT reminders_before_due_range CHECK (before_due BETWEEN 0 AND 40320),
    CONSTRAINT reminders_state_known
        CHECK (state IN ('scheduled', 'fired', 'snoozed', 'acknowledged', 'missed'))
);
-- A task's reminders (the task's representation, replacing the set, the due's recompute).
CREATE INDEX reminders_user_task_idx ON reminders (user_id, task_id);
-- The worker's queue: reminders waiting to fire, by time (small: fired ones leave it).
CREATE INDEX reminders_due_idx ON reminders (fire_at) WHERE state IN ('scheduled', 'snoozed');
-- One user's waiting reminders, for the single-shard claim.
CREATE INDEX reminders_user_due_idx ON reminders (user_id, fire_at)
    WHERE state IN ('scheduled', 'snoozed');
