-- Serialize one user's list creations for this transaction (no table row is locked), so the
-- count of lists read next cannot be passed by a concurrent creation: at most 1,000 lists.
SELECT pg_advisory_xact_lock(hashtextextended('list creation ' || %(user_id)s, 0))
