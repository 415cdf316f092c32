-- The service's key named %(name)s: stored now with the random %(secret)s when none exists,
-- else the one stored first. Not user data (no user_id). Under READ COMMITTED a key created
-- by a concurrent first caller may be invisible to this statement's snapshot: then it returns
-- no row and the caller runs it again.
WITH created AS (
    INSERT INTO service_keys (name, secret)
    VALUES (%(name)s, %(secret)s)
    ON CONFLICT (name) DO NOTHING
    RETURNING secret
)
SELECT secret FROM created
UNION ALL
SELECT secret FROM service_keys WHERE name = %(name)s
LIMIT 1
