-- Every completion record of one user's recurring tasks for the export, by task and order.
SELECT task_id::text AS task_id, seq,
       coalesce(utc_text(occurrence_due), to_char(occurrence_date, 'YYYY-MM-DD')) AS occurrence_due,
       utc_text(completed_at) AS completed_at
FROM task_completions
WHERE user_id = %(user_id)s
ORDER BY task_id, seq
