-- Nothing to undo: validating a constraint changes no rule (0015's rollback restores the old
-- checks).
SELECT 1;
