-- Drop the tasks table and its type.
DROP TABLE tasks;
DROP TYPE task_priority;
