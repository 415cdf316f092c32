-- This session's synchronous_commit ('on', 'off', 'local', 'remote_write' or 'remote_apply');
-- no user data.
SELECT current_setting('synchronous_commit') AS synchronous_commit
