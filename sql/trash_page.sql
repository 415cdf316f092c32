-- One page of a user's trash, newest deletion first: its trashed tasks and lists, each as
-- {kind, batch_id, deleted_at, data} with `data` as GET returned it (a list's open_count
-- counts the open tasks trashed in its batch). Keyset on (deleted_at, id) descending, after
-- (after_at, after_id) when given; `limit` is one more than the page, to tell if more follow.
-- Both halves walk their partial trash index backwards.
(SELECT 'task' AS kind, t.batch_id::text AS batch_id, t.deleted_at AS at, t.id,
        utc_text(t.deleted_at) AS deleted_at,
        to_jsonb(d) AS data
 FROM tasks AS t,
      LATERAL (SELECT t.id::text AS id, t.user_id, t.title, t.description, t.completed,
                      utc_text(t.completed_at) AS completed_at, t.priority,
                      utc_text(t.due_at) AS due_at, t.tags, t."order", t.version,
                      utc_text(t.created_at) AS created_at, utc_text(t.updated_at) AS updated_at,
                      t.recurrence_rule, t.recurrence_basis,
                      t.list_id::text AS list_id, t.parent_id::text AS parent_id, t.position,
                      t.time_zone, t.due_date, utc_text(t.deleted_at) AS deleted_at,
                      t.batch_id::text AS batch_id) AS d
 WHERE t.user_id = %(user_id)s
   AND t.deleted_at IS NOT NULL
   AND (%(after_at)s::timestamptz IS NULL
        OR (t.deleted_at, t.id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY t.deleted_at DESC, t.id DESC
 LIMIT %(limit)s)
UNION ALL
(SELECT 'list' AS kind, l.batch_id::text AS batch_id, l.deleted_at AS at, l.id,
        utc_text(l.deleted_at) AS deleted_at,
        to_jsonb(d) AS data
 FROM lists AS l,
      LATERAL (SELECT l.id::text AS id, l.user_id, l.name, l.color, l.position, l.version,
                      utc_text(l.created_at) AS created_at, utc_text(l.updated_at) AS updated_at,
                      (SELECT count(*)
                       FROM tasks AS t
                       WHERE t.user_id = %(user_id)s
                         AND t.batch_id = l.batch_id
                         AND coalesce(t.list_id, '00000000-0000-0000-0000-000000000000'::uuid)
                             = l.id
                         AND NOT t.completed) AS open_count,
                      utc_text(l.deleted_at) AS deleted_at,
                      l.batch_id::text AS batch_id) AS d
 WHERE l.user_id = %(user_id)s
   AND l.deleted_at IS NOT NULL
   AND (%(after_at)s::timestamptz IS NULL
        OR (l.deleted_at, l.id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
 ORDER BY l.deleted_at DESC, l.id DESC
 LIMIT %(limit)s)
ORDER BY at DESC, id DESC
LIMIT %(limit)s
