-- Undo reminders: the table and its helper go (their data is lost).
DROP TABLE reminders;
DROP FUNCTION reminder_fire_at(timestamptz, integer);
