"""All-day dates and zones: due_date, time_zone, /settings, overdue and sort=due_at."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from service.domain.zones import day_end, day_start, is_valid_zone


def settings_path(api) -> str:
    return f"/api/{api.user_id}/settings"


def stats(api) -> dict:
    return api.app.get(f"/api/{api.user_id}/stats").json


def test_settings_default_then_change(api):
    assert api.app.get(settings_path(api)).json == {"time_zone": "UTC", "week_start": 1}
    changed = api.app.patch_json(settings_path(api), {"time_zone": "Europe/Berlin"}).json
    assert changed == {"time_zone": "Europe/Berlin", "week_start": 1}
    changed = api.app.patch_json(settings_path(api), {"week_start": 7}).json
    assert changed == {"time_zone": "Europe/Berlin", "week_start": 7}
    assert api.app.get(settings_path(api)).json == changed
    for body in (
        {},
        {"time_zone": "Mars/Olympus"},
        {"time_zone": "europe/berlin"},
        {"time_zone": None},
        {"week_start": 0},
        {"week_start": 8},
        {"week_start": "1"},
        {"colour": "x"},
    ):
        api.app.patch_json(settings_path(api), body, status=422)


def test_settings_are_per_user(api, other_api):
    api.app.patch_json(settings_path(api), {"time_zone": "Asia/Tokyo"})
    assert other_api.app.get(settings_path(other_api)).json["time_zone"] == "UTC"


def test_due_date_and_time_zone_fields(api):
    task = api.created(due_date="2026-03-29", time_zone="Europe/Berlin")
    assert task["due_date"] == "2026-03-29" and task["time_zone"] == "Europe/Berlin"
    assert task["due_at"] is None
    for body in (
        {"due_date": "2026-02-30"},
        {"due_date": "20260301"},
        {"due_date": "2026-03-01T00:00:00Z"},
        {"due_date": "2026-03-01", "due_at": "2026-03-01T10:00:00Z"},
        {"time_zone": "Nowhere/Land"},
        {"time_zone": ""},
    ):
        resp = api.create(status=422, **body)
        assert resp.json["errors"][0]["field"] in {"due_date", "time_zone"}
    # Setting one form of the due clears the other.
    timed = api.app.patch_json(api.item(task["id"]), {"due_at": "2026-03-29T08:00:00Z"}).json
    assert timed["due_date"] is None and timed["due_at"] == "2026-03-29T08:00:00.000000Z"
    dated = api.app.patch_json(api.item(task["id"]), {"due_date": "2026-04-01"}).json
    assert dated["due_at"] is None and dated["due_date"] == "2026-04-01"


def test_overdue_follows_the_end_of_the_day_in_the_tasks_zone(api):
    now = datetime.now(UTC)
    # Kiritimati (UTC+14) is already in tomorrow when UTC is in today: its "yesterday" can
    # be UTC's today, so the same date is overdue there and not in Honolulu (UTC-10).
    ahead, behind = "Pacific/Kiritimati", "Pacific/Honolulu"
    ahead_date = (now + timedelta(hours=14)).date() - timedelta(days=1)
    assert day_end(ahead_date, ahead) <= now
    assert day_end(ahead_date, behind) > now
    api.created(title="ahead", due_date=ahead_date.isoformat(), time_zone=ahead)
    api.created(title="behind", due_date=ahead_date.isoformat(), time_zone=behind)
    api.created(title="far future", due_date="2999-01-01")
    assert stats(api)["overdue"] == 1


def test_a_task_without_zone_follows_the_users_setting(api):
    now = datetime.now(UTC)
    ahead_date = (now + timedelta(hours=14)).date() - timedelta(days=1)
    api.created(title="follows user", due_date=ahead_date.isoformat())
    api.app.patch_json(settings_path(api), {"time_zone": "Pacific/Honolulu"})
    assert stats(api)["overdue"] == 0
    api.app.patch_json(settings_path(api), {"time_zone": "Pacific/Kiritimati"})
    assert stats(api)["overdue"] == 1


def test_sort_due_at_places_all_day_tasks_at_the_start_of_their_day(api):
    # 2026-03-29 starts at 2026-03-28T23:00Z in Berlin (UTC+1 before that day's DST change).
    berlin = api.created(title="berlin day", due_date="2026-03-29", time_zone="Europe/Berlin")
    before = api.created(title="22:30Z", due_at="2026-03-28T22:30:00Z")
    after = api.created(title="23:30Z", due_at="2026-03-28T23:30:00Z")
    utc_day = api.created(title="utc day", due_date="2026-03-29")
    none = api.created(title="no due")
    expected = [before["id"], berlin["id"], after["id"], utc_day["id"], none["id"]]
    listed = [t["id"] for t in api.app.get(f"{api.base}?sort=due_at").json]
    assert listed == expected
    listed = [t["id"] for t in api.app.get(f"{api.base}?sort=-due_at").json]
    assert listed == [utc_day["id"], after["id"], berlin["id"], before["id"], none["id"]]


def test_a_new_user_zone_moves_the_day_starts_of_tasks_that_follow_it(api):
    follows = api.created(title="follows", due_date="2026-06-01")
    fixed = api.created(title="fixed", due_at="2026-05-31T20:00:00Z")
    assert [t["id"] for t in api.app.get(f"{api.base}?sort=due_at").json] == [
        fixed["id"],
        follows["id"],
    ]
    # In Tokyo 2026-06-01 starts at 2026-05-31T15:00Z: before the fixed task.
    api.app.patch_json(settings_path(api), {"time_zone": "Asia/Tokyo"})
    assert [t["id"] for t in api.app.get(f"{api.base}?sort=due_at").json] == [
        follows["id"],
        fixed["id"],
    ]


def test_day_start_in_a_gap_at_midnight_is_the_first_instant_of_the_day():
    # Santiago skips 00:00-01:00 on 2026-09-06: the day starts at 01:00 local (UTC-3).
    assert day_start(date(2026, 9, 6), "America/Santiago") == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert is_valid_zone("America/New_York") and not is_valid_zone("EST5EDT ")
