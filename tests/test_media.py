"""JSON output: timestamps are always UTC, with microseconds and a Z, whatever their zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
import pytest

from service.api.media import dumps


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 1, 24, 10, 0, 0, 123456, tzinfo=UTC), "2026-01-24T10:00:00.123456Z"),
        (datetime(2026, 1, 24, 10, 0, 0, tzinfo=UTC), "2026-01-24T10:00:00.000000Z"),
        (
            datetime(2026, 1, 24, 10, 0, 0, 7, tzinfo=ZoneInfo("Etc/UTC")),
            "2026-01-24T10:00:00.000007Z",
        ),
        (
            datetime(2026, 1, 24, 10, 0, 0, tzinfo=ZoneInfo("Europe/London")),
            "2026-01-24T10:00:00.000000Z",
        ),
        (
            datetime(2026, 1, 24, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
            "2026-01-24T09:00:00.000005Z",
        ),
        (
            datetime(2026, 1, 24, 0, 30, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2026-01-23T19:00:00.000000Z",
        ),
    ],
)
def test_timestamps_serialize_as_utc_with_microseconds_and_z(value, text):
    assert orjson.loads(dumps({"at": value})) == {"at": text}
