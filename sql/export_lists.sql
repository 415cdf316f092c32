-- Every list of one user for the export, trashed ones included (with deleted_at and
-- batch_id), in position order.
SELECT id::text AS id, user_id, name, color, position, version,
       utc_text(created_at) AS created_at,
       utc_text(updated_at) AS updated_at,
       utc_text(deleted_at) AS deleted_at,
       batch_id::text AS batch_id
FROM lists
WHERE user_id = %(user_id)s
ORDER BY position, id
