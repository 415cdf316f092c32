"""Timestamps leave PostgreSQL already formatted (to_char): the contract's text at every edge."""

from __future__ import annotations

import psycopg
import pytest
from webtest import TestApp

from service.server.bootstrap import build
from tests.conftest import make_config


@pytest.mark.parametrize(
    ("given", "answered"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
        ("2026-06-01T12:00:00.5Z", "2026-06-01T12:00:00.500000Z"),
        ("2026-01-24T10:00:00+05:30", "2026-01-24T04:30:00.000000Z"),
    ],
)
def test_due_at_reads_back_in_utc_with_six_digits_from_every_route(api, given, answered):
    task = api.created(title="edge", due_at=given)
    assert task["due_at"] == answered
    assert api.app.get(api.item(task["id"])).json["due_at"] == answered
    listed = api.app.get(f"/api/{api.user_id}/tasks").json
    assert [t["due_at"] for t in listed if t["id"] == task["id"]] == [answered]
    toggled = api.app.patch(f"{api.item(task['id'])}/complete").json
    assert toggled["due_at"] == answered
    assert toggled["completed_at"].endswith("Z") and len(toggled["completed_at"]) == 27


def test_timestamps_are_utc_whatever_the_session_time_zone(database_url, user_id):
    # The server's or role's TimeZone setting must not leak into the answers.
    separator = "&" if "?" in database_url else "?"
    url = f"{database_url}{separator}options=-c%20TimeZone%3DPacific/Kiritimati"
    runtime = build(make_config(url))
    runtime.pool.open(wait=True, timeout=10)
    try:
        app = TestApp(runtime.app, extra_environ={"HTTP_HOST": "tasks.test"})
        base = f"/api/{user_id}/tasks"
        task = app.post_json(base, {"title": "zone", "due_at": "2026-01-24T10:00:00Z"}).json
        assert task["due_at"] == "2026-01-24T10:00:00.000000Z"
        assert app.get(base).json[0]["due_at"] == "2026-01-24T10:00:00.000000Z"
        with psycopg.connect(database_url) as conn:
            now_utc = conn.execute("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
            assert task["created_at"][:10] == now_utc.fetchone()[0]
    finally:
        runtime.stop()
