-- Add reminders to one task: `ats` and `befores` are parallel arrays, one of the two set per
-- reminder. fire_at is `at`, or the task's due (due_at, else due_date_start: the start of
-- due_date in the task's zone) minus before_due minutes; NULL (no due) fails the NOT NULL, the
-- caller checks first. A fire_at already older than `missed_before` (now - 24 h, passed in:
-- Citus takes no now() inside CASE of an INSERT) is missed at once; a younger past one is
-- scheduled and fires at the worker's next round. created_at is spread by the position in
-- the array (microseconds), so the set keeps the order it was sent in.
INSERT INTO reminders (user_id, task_id, at, before_due, fire_at, state, created_at)
SELECT %(user_id)s, t.id, w.at, w.before_due, f.fire_at,
       CASE WHEN f.fire_at <= %(missed_before)s::timestamptz THEN 'missed' ELSE 'scheduled' END,
       %(created_at)s::timestamptz + make_interval(secs => w.n / 1000000.0)
FROM tasks AS t,
     unnest(%(ats)s::timestamptz[], %(befores)s::integer[]) WITH ORDINALITY AS w (at, before_due, n),
     LATERAL (SELECT coalesce(w.at, reminder_fire_at(coalesce(t.due_at, t.due_date_start),
                                                     w.before_due)) AS fire_at) AS f
WHERE t.user_id = %(user_id)s
  AND t.id = %(task_id)s
