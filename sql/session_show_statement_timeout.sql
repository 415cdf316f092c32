-- This session's statement_timeout in milliseconds, 0 when none (no user data).
SELECT setting::bigint AS milliseconds FROM pg_settings WHERE name = 'statement_timeout'
