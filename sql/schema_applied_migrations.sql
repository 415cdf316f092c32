-- The ids of the migrations yoyo has applied, newest first (no user data).
SELECT migration_id
FROM _yoyo_migration
ORDER BY applied_at_utc DESC, migration_id DESC
