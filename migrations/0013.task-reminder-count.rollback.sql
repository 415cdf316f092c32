-- Undo the reminder count: the column goes (the reminders themselves stay).
ALTER TABLE tasks DROP COLUMN reminder_count;
