-- One user's settings; no row while the user has changed none (the defaults apply).
SELECT time_zone, week_start
FROM user_settings
WHERE user_id = %(user_id)s
