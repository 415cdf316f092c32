-- Set this session's (or, with is_local, this transaction's) statement_timeout; no user data.
SELECT set_config('statement_timeout', %(milliseconds)s, %(is_local)s)
