"""Time zones and all-day dates: IANA names checked against the zone database the service ships.

The zone database is the `tzdata` package (a dependency), so a name is valid or not the same
way on every host, whatever the host's own zone files. An all-day date `due_date` is a day
on the calendar of the task's zone (its own `time_zone`, else the user's setting, else UTC):
it sorts by the instant that day starts there, and it is overdue once the next day has
started there. A day that starts in a DST gap (midnight does not exist) starts at the first
instant that does: zoneinfo resolves a missing wall time with the offset before the gap,
which lands exactly on the end of the gap.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEFAULT_ZONE = "UTC"
MAX_ZONE_LENGTH = 64


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_valid_zone(name: str) -> bool:
    """Tell whether `name` is an IANA zone name of the shipped database (e.g. Europe/Berlin)."""
    if not name or len(name) > MAX_ZONE_LENGTH or name not in _known_zones():
        return False
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """Return the zone named `name` (validated by `is_valid_zone`)."""
    return ZoneInfo(name)


def effective_zone(task_zone: str | None, user_zone: str | None) -> str:
    """Return the zone a task's dates are computed in: its own, else the user's, else UTC."""
    return task_zone or user_zone or DEFAULT_ZONE


def day_start(day: date, zone_name: str) -> datetime:
    """Return the UTC instant at which `day` starts in the zone `zone_name`."""
    local = datetime.combine(day, time(0), tzinfo=zone(zone_name))
    return local.astimezone(UTC)


def day_end(day: date, zone_name: str) -> datetime:
    """Return the UTC instant at which `day` ends (the next day starts) in `zone_name`."""
    return day_start(day + timedelta(days=1), zone_name)
