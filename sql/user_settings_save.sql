-- Save one user's settings: the given ones (set_<field>), the stored or default others.
INSERT INTO user_settings AS s (user_id, time_zone, week_start)
VALUES (%(user_id)s, %(time_zone)s, %(week_start)s)
ON CONFLICT (user_id) DO UPDATE
SET time_zone  = CASE WHEN %(set_time_zone)s::boolean THEN excluded.time_zone ELSE s.time_zone END,
    week_start = CASE WHEN %(set_week_start)s::boolean THEN excluded.week_start ELSE s.week_start END,
    updated_at = excluded.updated_at
RETURNING s.time_zone, s.week_start
