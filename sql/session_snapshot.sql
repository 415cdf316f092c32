-- The first statement of an export's transaction: every read after it sees one snapshot, so
-- the document is consistent however the user writes meanwhile; nothing in it may write.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY
