-- How many reminders each task has, kept by the statement that follows every change of a
-- task's reminder set (sql/task_reminders_counted.sql). A task without reminders, most of
-- them, is then answered without reading the reminders table: a listing page or a write
-- saves its second statement (bench/RESULTS.md, "reminder_count").
-- Adding a NOT NULL column with a constant default rewrites no row (PostgreSQL 11+).
-- depends: 0012.reminders

ALTER TABLE tasks
    ADD COLUMN reminder_count smallint NOT NULL DEFAULT 0
        CONSTRAINT tasks_reminder_count_range CHECK (reminder_count >= 0);

UPDATE tasks AS t
SET reminder_count = r.n
FROM (SELECT user_id, task_id, count(*) AS n FROM reminders GROUP BY user_id, task_id) AS r
WHERE t.user_id = r.user_id
  AND t.id = r.task_id;
