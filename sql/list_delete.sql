-- Move one live list of one user and its live tasks (sub-tasks included: they share the
-- list) to the trash as batch `batch_id`; return the list as it is now, with the number of
-- tasks trashed with it; no row when the list is absent or if_versions (If-Match) holds none
-- of its versions.
WITH tick AS (
    -- The user's change counter, taken first and row-locked until commit (docs/sync.md).
    INSERT INTO change_counters AS cc (user_id, seq)
    VALUES (%(user_id)s, 1)
    ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1
    RETURNING cc.seq
),
list AS (
    UPDATE lists AS l
    SET change_seq = (SELECT seq FROM tick),
        deleted_at = now(),
        batch_id = %(batch_id)s
    WHERE l.user_id = %(user_id)s
      AND l.id = %(list_id)s
      AND l.deleted_at IS NULL
      AND (%(if_versions)s::integer[] IS NULL OR l.version = ANY (%(if_versions)s::integer[]))
    RETURNING l.*
),
trashed AS (
    UPDATE tasks AS t
    SET change_seq = (SELECT seq FROM tick),
        deleted_at = list.deleted_at,
        batch_id = list.batch_id
    FROM list
    WHERE t.user_id = %(user_id)s
      AND coalesce(t.list_id, '00000000-0000-0000-0000-000000000000'::uuid) = list.id
      AND t.deleted_at IS NULL
    RETURNING t.id, t.completed
)
SELECT l.id::text AS id, l.user_id, l.name, l.color, l.position, l.version,
       utc_text(l.created_at) AS created_at,
       utc_text(l.updated_at) AS updated_at,
       (SELECT count(*) FROM trashed WHERE NOT trashed.completed) AS open_count,
       utc_text(l.deleted_at) AS deleted_at,
       l.batch_id::text AS batch_id,
       (SELECT count(*) FROM trashed) AS tasks_deleted
FROM list AS l
