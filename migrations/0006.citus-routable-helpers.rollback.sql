-- Drop the Citus-routable helpers (statements in sql/ use them: roll back the code first).
DROP FUNCTION completion_time(boolean, timestamptz, timestamptz);
DROP FUNCTION utc_text(timestamptz);
