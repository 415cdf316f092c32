"""The user settings DAO: one row per user who changed a setting; defaults otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg_pool import ConnectionPool

from service.data import unit_of_work
from service.data.queries import Queries
from service.data.reminders import refresh_params
from service.domain import zones

Row = dict[str, Any]

DEFAULTS: Mapping[str, Any] = {"time_zone": zones.DEFAULT_ZONE, "week_start": 1}


class SettingsStore:
    """Read and change one user's settings."""

    def __init__(self, pool: ConnectionPool, queries: Queries) -> None:
        self._pool = pool
        self._get = queries["user_settings_get"]
        self._save = queries["user_settings_save"]
        self._all_day = queries["task_all_day_in_user_zone"]
        self._set_starts = queries["task_set_due_date_starts"]
        self._refresh_reminders = queries["reminder_refresh"]

    def get(self, user_id: str) -> Row:
        """Return the user's settings (the defaults for a user who changed none)."""
        with unit_of_work.connection(self._pool) as conn:
            row = conn.execute(self._get, {"user_id": user_id}).fetchone()
        return dict(DEFAULTS) if row is None else row

    def update(self, user_id: str, changes: Mapping[str, Any]) -> Row:
        """Save the given settings and return them all.

        A new zone moves the day starts of the user's all-day tasks that follow it, in the
        same transaction, so sort=due_at keeps ordering them by their day in the new zone.
        """
        params = {
            "user_id": user_id,
            "time_zone": changes.get("time_zone", DEFAULTS["time_zone"]),
            "week_start": changes.get("week_start", DEFAULTS["week_start"]),
            "set_time_zone": "time_zone" in changes,
            "set_week_start": "week_start" in changes,
        }
        with unit_of_work.connection(self._pool) as conn, conn.transaction():
            row = conn.execute(self._save, params).fetchone()
            assert row is not None
            if "time_zone" in changes:
                tasks = conn.execute(self._all_day, {"user_id": user_id}).fetchall()
                if tasks:
                    starts = [zones.day_start(t["due_date"], row["time_zone"]) for t in tasks]
                    ids = [t["id"] for t in tasks]
                    conn.execute(
                        self._set_starts, {"user_id": user_id, "ids": ids, "starts": starts}
                    )
                    # Their relative reminders follow the new start of the day.
                    conn.execute(self._refresh_reminders, refresh_params(user_id, ids))
            return row
