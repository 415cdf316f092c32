-- One page of a user's changes feed: every task and list whose latest write carries a
-- change counter value after the cursor (after_seq, after_kind, after_id), live ones as
-- `upsert` with their representation, trashed ones as `delete`, and the tombstones of purged
-- ones as `delete`; in (seq, kind, id) order, at most `limit` rows (one more than the page, to
-- tell if more follow). Each object has one row (its latest write), so it appears once.
-- A list's `open_count` is counted at the time of the read, as GET /lists/{id} does: it is
-- derived from its tasks, so a change of a task does not put its list back in the feed
-- (the task's own change is there; a client recounts, or reads the list again).
-- Each half walks its (user_id, seq, ...) index from the cursor on.
SELECT kind, id, seq, op, data
FROM (
    (SELECT 'task' AS kind, t.id, s.change_seq AS seq,
            CASE WHEN t.deleted_at IS NULL THEN 'upsert' ELSE 'delete' END AS op,
            CASE WHEN t.deleted_at IS NULL THEN to_jsonb(d) END AS data
     -- The order comes from the task's stamp (migration 0014), the rest from the task.
     FROM task_stamps AS s
     JOIN tasks AS t ON t.user_id = s.user_id AND t.id = s.task_id,
          LATERAL (SELECT t.id::text AS id, t.user_id, t.title, t.description, t.completed,
                          utc_text(t.completed_at) AS completed_at, t.priority,
                          utc_text(t.due_at) AS due_at, t.tags, t."order", t.version,
                          utc_text(t.created_at) AS created_at,
                          utc_text(t.updated_at) AS updated_at,
                          t.recurrence_rule, t.recurrence_basis,
                          t.list_id::text AS list_id, t.parent_id::text AS parent_id,
                          t.position, t.time_zone, t.due_date,
                          utc_text(t.deleted_at) AS deleted_at) AS d
     WHERE s.user_id = %(user_id)s
       AND t.user_id = %(user_id)s
       AND s.change_seq >= %(after_seq)s
       AND (s.change_seq, 'task', s.task_id) > (%(after_seq)s, %(after_kind)s, %(after_id)s::uuid)
     ORDER BY s.change_seq, s.task_id
     LIMIT %(limit)s)
    UNION ALL
    (SELECT 'list' AS kind, l.id, l.change_seq AS seq,
            CASE WHEN l.deleted_at IS NULL THEN 'upsert' ELSE 'delete' END AS op,
            CASE WHEN l.deleted_at IS NULL THEN to_jsonb(d) END AS data
     FROM lists AS l,
          LATERAL (SELECT l.id::text AS id, l.user_id, l.name, l.color, l.position, l.version,
                          utc_text(l.created_at) AS created_at,
                          utc_text(l.updated_at) AS updated_at,
                          -- As GET /lists/{id} counts it, at the time of this read.
                          (SELECT count(*)
                           FROM tasks AS c
                           WHERE c.user_id = %(user_id)s
                             AND coalesce(c.list_id, '00000000-0000-0000-0000-000000000000'::uuid) = l.id
                             AND NOT c.completed
                             AND c.deleted_at IS NULL) AS open_count) AS d
     WHERE l.user_id = %(user_id)s
       AND l.change_seq >= %(after_seq)s
       AND (l.change_seq, 'list', l.id) > (%(after_seq)s, %(after_kind)s, %(after_id)s::uuid)
     ORDER BY l.change_seq, l.id
     LIMIT %(limit)s)
    UNION ALL
    (SELECT g.kind, g.id, g.seq, 'delete' AS op, NULL::jsonb AS data
     FROM change_tombstones AS g
     WHERE g.user_id = %(user_id)s
       AND g.seq >= %(after_seq)s
       AND (g.seq, g.kind, g.id) > (%(after_seq)s, %(after_kind)s, %(after_id)s::uuid)
     ORDER BY g.seq, g.kind, g.id
     LIMIT %(limit)s)
) AS changes
ORDER BY seq, kind, id
LIMIT %(limit)s
