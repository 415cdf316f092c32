"""Recurring tasks over HTTP, against the real database: every completion path advances the
same task, records the completion, ends with COUNT/UNTIL, undoes, and replays idempotently.

Dues lie in 2027 or later, so "skipping occurrences already past" never moves them (the
tests that skip use dues in the past on purpose).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

DAILY = {"rule": "FREQ=DAILY"}


def completions(api, task_id: str, status: int = 200):
    """GET the task's completion record."""
    return api.app.get(f"{api.item(task_id)}/completions", status=status)


def undo(api, task_id: str, status: int = 200, **kwargs):
    """DELETE the task's latest completion."""
    return api.app.delete(f"{api.item(task_id)}/completions/latest", status=status, **kwargs)


def toggle(api, task_id: str, **kwargs):
    """PATCH .../complete without a body."""
    return api.app.patch(f"{api.item(task_id)}/complete", **kwargs)


def recurring(api, due_at: str = "2027-05-03T09:00:00Z", **fields) -> dict:
    """Create a recurring task (daily unless said otherwise) and return it."""
    return api.created(due_at=due_at, recurrence=fields.pop("recurrence", DAILY), **fields)


# -- the field ------------------------------------------------------------------------------


def test_created_with_a_rule_and_the_default_basis(api):
    task = recurring(api, recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO,WE"})
    assert task["recurrence"] == {"rule": "FREQ=WEEKLY;BYDAY=MO,WE", "basis": "due"}
    assert api.app.get(api.item(task["id"])).json["recurrence"] == task["recurrence"]
    assert api.created()["recurrence"] is None


@pytest.mark.parametrize(
    ("recurrence", "field"),
    [
        ({"rule": "FREQ=HOURLY"}, "recurrence.rule"),
        ({"rule": "FREQ=DAILY;COUNT=2;UNTIL=20270101"}, "recurrence.rule"),
        ({"rule": "FREQ=DAILY;BYHOUR=9"}, "recurrence.rule"),
        ({"rule": ""}, "recurrence.rule"),
        ({"rule": 5}, "recurrence.rule"),
        ({"rule": None}, "recurrence.rule"),
        ({}, "recurrence.rule"),
        ({"rule": "FREQ=DAILY", "basis": "whenever"}, "recurrence.basis"),
        ({"rule": "FREQ=DAILY", "basis": None}, "recurrence.basis"),
        ({"rule": "FREQ=DAILY", "every": 2}, "recurrence.every"),
        ("FREQ=DAILY", "recurrence"),
        ([], "recurrence"),
    ],
)
def test_anything_outside_the_subset_is_a_422_naming_the_field(api, recurrence, field):
    resp = api.create(status=422, due_at="2027-05-03T09:00:00Z", recurrence=recurrence)
    assert field in {error["field"] for error in resp.json["errors"]}


def test_a_recurring_task_needs_a_due(api):
    resp = api.create(status=422, recurrence=DAILY)
    assert [e["field"] for e in resp.json["errors"]] == ["recurrence"]
    task = api.created()
    resp = api.app.patch_json(api.item(task["id"]), {"recurrence": DAILY}, status=422)
    assert [e["field"] for e in resp.json["errors"]] == ["recurrence"]
    task = recurring(api)
    resp = api.app.patch_json(api.item(task["id"]), {"due_at": None}, status=422)
    assert [e["field"] for e in resp.json["errors"]] == ["due_at"]
    assert api.app.get(api.item(task["id"])).json["due_at"] == task["due_at"]


def test_patch_sets_changes_and_clears_the_rule(api):
    task = api.created(due_at="2027-05-03T09:00:00Z")
    task = api.app.patch_json(api.item(task["id"]), {"recurrence": DAILY}).json
    assert task["recurrence"] == {"rule": "FREQ=DAILY", "basis": "due"}
    task = api.app.patch_json(
        api.item(task["id"]), {"recurrence": {"basis": "completion"}}
    ).json  # merge patch: the rule stays
    assert task["recurrence"] == {"rule": "FREQ=DAILY", "basis": "completion"}
    same = api.app.put_json(api.item(task["id"]), {"recurrence": task["recurrence"]}).json
    assert same["version"] == task["version"]
    cleared = api.app.patch_json(api.item(task["id"]), {"recurrence": None}).json
    assert cleared["recurrence"] is None
    assert cleared["due_at"] == task["due_at"]


def test_changing_the_due_keeps_the_rule(api):
    task = recurring(api, recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO"})
    moved = api.app.patch_json(api.item(task["id"]), {"due_at": "2027-06-02T18:30:00Z"}).json
    assert moved["recurrence"] == task["recurrence"]
    done = toggle(api, task["id"]).json
    # The series continues from the new due: the Monday after 2 June, at 18:30.
    assert done["due_at"] == "2027-06-07T18:30:00.000000Z"


# -- every completion path advances the same task ---------------------------------------------


def _complete_by_toggle(api, task):
    return toggle(api, task["id"]).json


def _complete_by_set(api, task):
    return api.app.patch_json(f"{api.item(task['id'])}/complete", {"completed": True}).json


def _complete_by_patch(api, task):
    return api.app.patch_json(api.item(task["id"]), {"completed": True}).json


def _complete_by_put(api, task):
    return api.app.put_json(api.item(task["id"]), {"completed": True, "title": "renamed"}).json


def _complete_by_bulk(api, task):
    assert api.app.patch_json(api.base, {"completed": True}).json == {"updated": 1}
    return api.app.get(api.item(task["id"])).json


PATHS = [
    _complete_by_toggle,
    _complete_by_set,
    _complete_by_patch,
    _complete_by_put,
    _complete_by_bulk,
]


@pytest.mark.parametrize("complete", PATHS, ids=lambda f: f.__name__[len("_complete_by_") :])
def test_every_completion_path_advances_the_same_task(api, db, complete):
    task = recurring(api)
    after = complete(api, task)
    assert after["id"] == task["id"]
    assert after["completed"] is False and after["completed_at"] is None
    assert after["due_at"] == "2027-05-04T09:00:00.000000Z"
    assert after["version"] == task["version"] + 1
    assert after["recurrence"] == task["recurrence"]
    record = completions(api, task["id"]).json
    assert [r["occurrence_due"] for r in record] == ["2027-05-03T09:00:00.000000Z"]
    moment = datetime.fromisoformat(record[0]["completed_at"])
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=5)
    # Exactly one task, still one row.
    count = db.execute("SELECT count(*) AS n FROM tasks WHERE user_id = %s", [api.user_id])
    assert count.fetchone()["n"] == 1


def test_put_with_completed_applies_the_other_fields_too(api):
    task = recurring(api)
    after = _complete_by_put(api, task)
    assert after["title"] == "renamed"
    assert after["due_at"] == "2027-05-04T09:00:00.000000Z"


def test_setting_completed_false_on_an_open_recurring_task_changes_nothing(api):
    task = recurring(api)
    same = api.app.patch_json(f"{api.item(task['id'])}/complete", {"completed": False}).json
    assert same == task
    assert completions(api, task["id"]).json == []


def test_bulk_completes_plain_tasks_and_advances_recurring_ones(api):
    plain = api.created()
    rec = recurring(api)
    assert api.app.patch_json(api.base, {"completed": True}).json == {"updated": 2}
    assert api.app.get(api.item(plain["id"])).json["completed"] is True
    after = api.app.get(api.item(rec["id"])).json
    assert after["completed"] is False and after["due_at"] == "2027-05-04T09:00:00.000000Z"
    # Completing again: the plain task is done; the recurring one advances again.
    assert api.app.patch_json(f"{api.base}?status=pending", {"completed": True}).json == {
        "updated": 1
    }
    assert len(completions(api, rec["id"]).json) == 2


def test_bulk_reopen_leaves_open_recurring_tasks_alone(api):
    rec = recurring(api)
    assert api.app.patch_json(api.base, {"completed": False}).json == {"updated": 0}
    assert api.app.get(api.item(rec["id"])).json["version"] == rec["version"]


# -- the series ---------------------------------------------------------------------------------


def test_count_used_up_completes_the_task_for_good(api):
    task = recurring(api, recurrence={"rule": "FREQ=DAILY;COUNT=2"})
    first = toggle(api, task["id"]).json
    assert first["completed"] is False and first["due_at"] == "2027-05-04T09:00:00.000000Z"
    last = toggle(api, task["id"]).json
    assert last["completed"] is True and last["completed_at"]
    assert last["due_at"] == "2027-05-04T09:00:00.000000Z"  # the last occurrence's due stays
    assert [r["occurrence_due"] for r in completions(api, task["id"]).json] == [
        "2027-05-04T09:00:00.000000Z",
        "2027-05-03T09:00:00.000000Z",
    ]
    # Reopened by hand, it is open again; a toggle reopens it like any completed task.
    assert toggle(api, task["id"]).json["completed"] is False


def test_until_used_up_completes_the_task_for_good(api):
    task = recurring(api, recurrence={"rule": "FREQ=WEEKLY;UNTIL=20270515T000000Z"})
    assert toggle(api, task["id"]).json["due_at"] == "2027-05-10T09:00:00.000000Z"
    assert toggle(api, task["id"]).json["completed"] is True


def test_the_31st_never_drifts(api):
    task = recurring(api, due_at="2027-01-31T09:00:00Z", recurrence={"rule": "FREQ=MONTHLY"})
    dues = [toggle(api, task["id"]).json["due_at"][:10] for _ in range(3)]
    assert dues == ["2027-03-31", "2027-05-31", "2027-07-31"]


def test_last_friday(api):
    task = recurring(
        api, due_at="2027-01-29T16:00:00Z", recurrence={"rule": "FREQ=MONTHLY;BYDAY=-1FR"}
    )
    dues = [toggle(api, task["id"]).json["due_at"][:10] for _ in range(3)]
    assert dues == ["2027-02-26", "2027-03-26", "2027-04-30"]


@pytest.mark.parametrize(
    ("zone", "due_at", "expected"),
    [
        # Berlin springs forward on 28 March 2027: 09:00 is 08:00Z, then 07:00Z.
        ("Europe/Berlin", "2027-03-27T09:00:00+01:00", ["2027-03-28T07", "2027-03-29T07"]),
        # ... and falls back on 31 October 2027: 07:00Z, then 08:00Z.
        ("Europe/Berlin", "2027-10-30T09:00:00+02:00", ["2027-10-31T08", "2027-11-01T08"]),
        # New York springs forward on 14 March 2027 (14:00Z -> 13:00Z) ...
        ("America/New_York", "2027-03-13T09:00:00-05:00", ["2027-03-14T13", "2027-03-15T13"]),
        # ... and falls back on 7 November 2027 (13:00Z -> 14:00Z).
        ("America/New_York", "2027-11-06T09:00:00-04:00", ["2027-11-07T14", "2027-11-08T14"]),
    ],
)
def test_daily_0900_in_the_task_zone_across_dst(api, zone, due_at, expected):
    task = recurring(api, due_at=due_at, time_zone=zone)
    dues = [toggle(api, task["id"]).json["due_at"][:13] for _ in expected]
    assert dues == expected


def test_the_zone_comes_from_the_user_setting_when_the_task_has_none(api):
    api.app.patch_json(f"/api/{api.user_id}/settings", {"time_zone": "Europe/Berlin"})
    task = recurring(api, due_at="2027-03-27T08:00:00Z")  # 09:00 in Berlin
    assert toggle(api, task["id"]).json["due_at"] == "2027-03-28T07:00:00.000000Z"


def test_a_local_time_in_the_gap_moves_forward_then_returns(api):
    task = recurring(api, due_at="2027-03-27T02:30:00+01:00", time_zone="Europe/Berlin")
    gap = toggle(api, task["id"]).json
    assert gap["due_at"] == "2027-03-28T01:30:00.000000Z"  # 03:30 CEST: 02:30 does not exist
    following = toggle(api, task["id"]).json
    assert following["due_at"] == "2027-03-29T00:30:00.000000Z"  # 02:30 CEST again


def test_an_ambiguous_local_time_takes_the_first_instant(api):
    task = recurring(api, due_at="2027-10-30T02:30:00+02:00", time_zone="Europe/Berlin")
    assert toggle(api, task["id"]).json["due_at"] == "2027-10-31T00:30:00.000000Z"  # CEST
    assert toggle(api, task["id"]).json["due_at"] == "2027-11-01T01:30:00.000000Z"


def test_missed_occurrences_are_skipped(api):
    missed = datetime.now(UTC) - timedelta(days=3)
    due = missed.replace(microsecond=0).isoformat()
    task = recurring(api, due_at=due)
    after = toggle(api, task["id"]).json
    nxt = datetime.fromisoformat(after["due_at"])
    now = datetime.now(UTC)
    assert now < nxt <= now + timedelta(days=1)
    assert nxt.time() == missed.time().replace(microsecond=0)


def test_all_day_series_moves_by_dates(api):
    task = api.created(
        due_date="2027-02-26",
        time_zone="Asia/Tokyo",
        recurrence={"rule": "FREQ=MONTHLY;BYMONTHDAY=-1"},
    )
    assert task["due_at"] is None
    after = toggle(api, task["id"]).json
    assert after["due_date"] == "2027-02-28" and after["due_at"] is None
    assert toggle(api, task["id"]).json["due_date"] == "2027-03-31"
    assert completions(api, task["id"]).json[0]["occurrence_due"] == "2027-02-28"


def test_basis_completion_counts_from_the_local_day_of_completion(api):
    zone = ZoneInfo("Pacific/Kiritimati")  # UTC+14: its date is usually not UTC's
    before = datetime.now(zone).date()
    task = api.created(
        due_date="2020-01-01",
        time_zone="Pacific/Kiritimati",
        recurrence={"rule": "FREQ=DAILY;INTERVAL=2", "basis": "completion"},
    )
    after = toggle(api, task["id"]).json
    today = {before, datetime.now(zone).date()}
    assert date.fromisoformat(after["due_date"]) in {day + timedelta(days=2) for day in today}


# -- sub-tasks, undo, idempotency, isolation -----------------------------------------------------


def test_sub_tasks_reopen_for_the_next_occurrence(api):
    parent = recurring(api)
    child = api.created(parent_id=parent["id"])
    grandchild = api.created(parent_id=child["id"])
    toggle(api, grandchild["id"])
    toggle(api, child["id"])
    assert api.app.get(api.item(child["id"])).json["completed"] is True
    after = toggle(api, parent["id"]).json
    assert after["completed"] is False
    for sub in (child, grandchild):
        assert api.app.get(api.item(sub["id"])).json["completed"] is False


def test_undo_moves_the_due_back(api):
    task = recurring(api)
    toggle(api, task["id"])
    toggle(api, task["id"])
    back = undo(api, task["id"]).json
    assert back["due_at"] == "2027-05-04T09:00:00.000000Z"
    assert back["completed"] is False
    assert [r["occurrence_due"] for r in completions(api, task["id"]).json] == [
        "2027-05-03T09:00:00.000000Z"
    ]
    assert undo(api, task["id"]).json["due_at"] == "2027-05-03T09:00:00.000000Z"
    assert undo(api, task["id"], status=404).json["detail"] == "The task has no completion to undo."
    # The series goes on from there as before.
    assert toggle(api, task["id"]).json["due_at"] == "2027-05-04T09:00:00.000000Z"


def test_undo_of_the_last_occurrence_reopens_the_task(api):
    task = recurring(api, recurrence={"rule": "FREQ=DAILY;COUNT=1"})
    assert toggle(api, task["id"]).json["completed"] is True
    back = undo(api, task["id"]).json
    assert back["completed"] is False and back["due_at"] == task["due_at"]


def test_undo_keeps_the_wall_time_of_a_shifted_occurrence(api):
    task = recurring(api, due_at="2027-03-27T02:30:00+01:00", time_zone="Europe/Berlin")
    toggle(api, task["id"])  # 28 March: 03:30 CEST
    toggle(api, task["id"])  # 29 March: 02:30 CEST
    undo(api, task["id"])
    assert toggle(api, task["id"]).json["due_at"] == "2027-03-29T00:30:00.000000Z"


def test_undo_honours_if_match(api):
    task = recurring(api)
    done = toggle(api, task["id"]).json
    undo(api, task["id"], status=412, headers={"If-Match": '"1"'})
    undo(api, task["id"], headers={"If-Match": f'"{done["version"]}"'})


def test_if_match_guards_a_recurring_completion(api):
    task = recurring(api)
    toggle(api, task["id"], status=412, headers={"If-Match": '"7"'})
    assert completions(api, task["id"]).json == []
    after = toggle(api, task["id"], headers={"If-Match": '"1"'}).json
    assert after["due_at"] == "2027-05-04T09:00:00.000000Z"


@pytest.mark.parametrize("complete", ["toggle", "set", "patch", "bulk"])
def test_a_retried_completion_with_the_same_key_never_advances_twice(api, complete):
    task = recurring(api)
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    item = api.item(task["id"])

    def send():
        if complete == "toggle":
            return api.app.patch(f"{item}/complete", headers=headers)
        if complete == "set":
            return api.app.patch_json(f"{item}/complete", {"completed": True}, headers=headers)
        if complete == "patch":
            return api.app.patch_json(item, {"completed": True}, headers=headers)
        return api.app.patch_json(api.base, {"completed": True}, headers=headers)

    first = send()
    again = send()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.body == first.body
    assert api.app.get(item).json["due_at"] == "2027-05-04T09:00:00.000000Z"
    assert len(completions(api, task["id"]).json) == 1


def test_completions_of_a_plain_task_are_empty(api):
    assert completions(api, api.created()["id"]).json == []


def test_another_users_task_answers_like_a_missing_one(api, other_api):
    task = recurring(api)
    toggle(api, task["id"])
    missing = str(uuid.uuid4())
    for task_id in (task["id"], missing):
        assert completions(other_api, task_id, status=404).json["detail"] == "No such task."
        assert undo(other_api, task_id, status=404).json["detail"] == "No such task."
    assert len(completions(api, task["id"]).json) == 1
    completions(api, "not-a-uuid", status=422)


def test_completions_are_listed_newest_first(api):
    task = recurring(api)
    for _ in range(3):
        toggle(api, task["id"])
    record = completions(api, task["id"]).json
    assert [r["occurrence_due"][:10] for r in record] == ["2027-05-05", "2027-05-04", "2027-05-03"]
    assert [r["completed_at"] for r in record] == sorted(
        (r["completed_at"] for r in record), reverse=True
    )
    assert set(record[0]) == {"occurrence_due", "completed_at"}
