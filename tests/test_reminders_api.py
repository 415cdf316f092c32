"""Reminders over HTTP, against the real database: the field on create/PUT/PATCH, fire_at
computed (absolute, relative to due_at or to due_date's start in the task's zone, following
the due and a recurring task's advance), the replaced set keeping unchanged ids, the list,
snooze and ack, isolation and the 422s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

AT = "2027-05-03T08:00:00.000000Z"
DUE = "2027-05-03T09:00:00Z"


def reminders_url(api, suffix: str = "") -> str:
    return f"/api/{api.user_id}/reminders{suffix}"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_task_has_no_reminders_by_default(api):
    task = api.created()
    assert task["reminders"] == []
    assert api.app.get(api.item(task["id"])).json["reminders"] == []
    assert api.app.get(api.base).json[0]["reminders"] == []


def test_absolute_and_relative_reminders_on_create(api):
    task = api.created(due_at=DUE, reminders=[{"at": AT}, {"before_due": 30}])
    first, second = task["reminders"]
    assert first == {
        "id": first["id"],
        "at": AT,
        "fire_at": AT,
        "state": "scheduled",
        "fired_at": None,
    }
    assert second["before_due"] == 30 and "at" not in second
    assert second["fire_at"] == "2027-05-03T08:30:00.000000Z"
    assert api.app.get(api.item(task["id"])).json["reminders"] == task["reminders"]
    listed = api.app.get(api.base).json
    assert listed[0]["reminders"] == task["reminders"]


def test_relative_to_an_all_day_due_is_the_start_of_that_day_in_the_tasks_zone(api):
    task = api.created(
        due_date="2027-05-03", time_zone="Europe/Berlin", reminders=[{"before_due": 60}]
    )
    # Midnight in Berlin (CEST, +02:00) is 22:00Z the day before; an hour earlier: 21:00Z.
    assert task["reminders"][0]["fire_at"] == "2027-05-02T21:00:00.000000Z"


def test_relative_reminders_follow_the_due(api):
    task = api.created(due_at=DUE, reminders=[{"before_due": 10}, {"at": AT}])
    moved = api.app.patch_json(api.item(task["id"]), {"due_at": "2027-06-01T12:00:00Z"}).json
    assert moved["reminders"][0]["fire_at"] == "2027-06-01T11:50:00.000000Z"
    assert moved["reminders"][0]["id"] == task["reminders"][0]["id"]
    assert moved["reminders"][1]["fire_at"] == AT
    dated = api.app.put_json(api.item(task["id"]), {"due_date": "2027-07-01"}).json
    assert dated["reminders"][0]["fire_at"] == "2027-06-30T23:50:00.000000Z"


def test_relative_reminders_follow_a_recurring_task_as_it_advances_and_back(api):
    task = api.created(
        due_at=DUE, recurrence={"rule": "FREQ=DAILY"}, reminders=[{"before_due": 15}]
    )
    advanced = api.app.patch(f"{api.item(task['id'])}/complete").json
    assert advanced["due_at"] == "2027-05-04T09:00:00.000000Z"
    assert advanced["reminders"][0]["fire_at"] == "2027-05-04T08:45:00.000000Z"
    back = api.app.delete(f"{api.item(task['id'])}/completions/latest").json
    assert back["reminders"][0]["fire_at"] == "2027-05-03T08:45:00.000000Z"


def test_setting_reminders_replaces_the_set_and_keeps_unchanged_ids(api):
    task = api.created(due_at=DUE, reminders=[{"at": AT}, {"before_due": 5}])
    kept = task["reminders"][0]
    # What was read may be sent back: the read-only fields are ignored.
    body = {"reminders": [kept, {"before_due": 20}]}
    after = api.app.patch_json(api.item(task["id"]), body).json["reminders"]
    assert after[0]["id"] == kept["id"]
    assert after[1]["before_due"] == 20 and after[1]["id"] != task["reminders"][1]["id"]
    assert len(after) == 2
    cleared = api.app.patch_json(api.item(task["id"]), {"reminders": []}).json
    assert cleared["reminders"] == []


@pytest.mark.parametrize(
    ("reminders", "field"),
    [
        ([{}], "reminders.0"),
        ([{"at": AT, "before_due": 5}], "reminders.0"),
        ([{"before_due": -1}], "reminders.0.before_due"),
        ([{"before_due": 40321}], "reminders.0.before_due"),
        ([{"before_due": 1.5}], "reminders.0.before_due"),
        ([{"at": "tomorrow"}], "reminders.0.at"),
        ([{"at": AT, "every": 5}], "reminders.0.every"),
        ([{"at": AT}] * 11, "reminders"),
        ("soon", "reminders"),
    ],
)
def test_malformed_reminders_are_422s(api, reminders, field):
    problem = api.create(status=422, due_at=DUE, reminders=reminders).json
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem


def test_a_relative_reminder_needs_a_due(api):
    problem = api.create(status=422, reminders=[{"before_due": 5}]).json
    assert problem["errors"][0]["field"] == "reminders.0.before_due"
    task = api.created(due_at=DUE, reminders=[{"before_due": 5}])
    problem = api.app.patch_json(api.item(task["id"]), {"due_at": None}, status=422).json
    assert problem["errors"][0]["field"] == "due_at"
    # Nothing changed.
    assert api.app.get(api.item(task["id"])).json["due_at"] == "2027-05-03T09:00:00.000000Z"


def test_a_past_at_older_than_a_day_is_missed_at_once(api):
    old = stamp(datetime.now(UTC) - timedelta(days=2))
    task = api.created(reminders=[{"at": old}])
    assert task["reminders"][0]["state"] == "missed"


def test_list_snooze_and_ack(api):
    task = api.created(due_at=DUE, reminders=[{"at": AT}, {"before_due": 30}])
    listed = api.app.get(reminders_url(api)).json
    # Newest first: 08:30 before 08:00.
    assert [r["id"] for r in listed] == [r["id"] for r in reversed(task["reminders"])]
    assert all(r["task_id"] == task["id"] for r in listed)
    rid = task["reminders"][0]["id"]
    snoozed = api.app.post_json(
        reminders_url(api, f"/{rid}/snooze"), {"until": "2027-05-03T10:00:00Z"}
    ).json
    assert snoozed["state"] == "snoozed" and snoozed["fire_at"] == "2027-05-03T10:00:00.000000Z"
    assert api.app.get(reminders_url(api, "?state=snoozed")).json == [snoozed]
    acked = api.app.post(reminders_url(api, f"/{rid}/ack")).json
    assert acked["state"] == "acknowledged"
    assert api.app.get(reminders_url(api, "?state=scheduled")).json[0]["before_due"] == 30
    api.app.get(reminders_url(api, "?state=sleeping"), status=422)
    api.app.post_json(reminders_url(api, f"/{rid}/snooze"), {}, status=422)
    api.app.post_json(reminders_url(api, f"/{rid}/snooze"), {"until": "later"}, status=422)
    api.app.post(reminders_url(api, "/not-a-uuid/ack"), status=422)


def test_another_users_reminder_is_a_404_like_a_missing_one(api, other_api):
    task = api.created(due_at=DUE, reminders=[{"at": AT}])
    rid = task["reminders"][0]["id"]
    for target in (rid, str(uuid.uuid4())):
        other_api.app.post(reminders_url(other_api, f"/{target}/ack"), status=404)
        other_api.app.post_json(
            reminders_url(other_api, f"/{target}/snooze"), {"until": AT}, status=404
        )
    assert other_api.app.get(reminders_url(other_api)).json == []
    assert api.app.get(api.item(task["id"])).json["reminders"][0]["state"] == "scheduled"


def test_deleting_the_task_takes_its_reminders(api, db):
    task = api.created(due_at=DUE, reminders=[{"at": AT}])
    api.app.delete(api.item(task["id"]))
    assert api.app.get(reminders_url(api)).json == []


def test_relative_reminders_of_all_day_tasks_follow_the_users_zone(api):
    task = api.created(due_date="2027-05-03", reminders=[{"before_due": 0}])
    assert task["reminders"][0]["fire_at"] == "2027-05-03T00:00:00.000000Z"
    api.app.patch_json(f"/api/{api.user_id}/settings", {"time_zone": "Asia/Tokyo"})
    moved = api.app.get(api.item(task["id"])).json["reminders"][0]
    assert (
        moved["fire_at"] == "2027-05-02T15:00:00.000000Z"
        and moved["id"] == task["reminders"][0]["id"]
    )


def test_a_change_of_the_reminders_alone_moves_the_version_once_and_shows_in_the_feed(api):
    task = api.created(due_at=DUE)
    feed = api.app.get(f"/api/{api.user_id}/changes").json["cursor"]
    set_ = api.app.patch_json(api.item(task["id"]), {"reminders": [{"at": AT}]})
    assert set_.json["version"] == task["version"] + 1
    assert set_.headers["ETag"] == f'"{task["version"] + 1}"'
    assert set_.json["updated_at"] > task["updated_at"]
    changed = api.app.get(f"/api/{api.user_id}/changes?cursor={feed}").json["changes"]
    assert [(c["id"], c["data"]["reminders"]) for c in changed] == [
        (task["id"], set_.json["reminders"])
    ]
    # The same set again changes nothing: same version.
    again = api.app.patch_json(api.item(task["id"]), {"reminders": set_.json["reminders"]}).json
    assert again["version"] == set_.json["version"]
    assert api.app.get(api.item(task["id"])).json == again


def test_a_change_of_fields_and_reminders_together_moves_the_version_once(api):
    task = api.created(due_at=DUE, reminders=[{"at": AT}])
    assert task["version"] == 1
    both = api.app.patch_json(
        api.item(task["id"]), {"title": "renamed", "reminders": [{"before_due": 15}]}
    ).json
    assert both["version"] == 2 and both["title"] == "renamed"
    assert api.app.get(api.item(task["id"])).json == both


def test_a_listing_page_carries_the_reminders_of_the_tasks_that_have_some(api):
    plain = api.created(title="plain")
    reminded = api.created(title="reminded", due_at=DUE, reminders=[{"before_due": 5}])
    cleared = api.created(title="cleared", reminders=[{"at": AT}])
    cleared = api.app.patch_json(api.item(cleared["id"]), {"reminders": []}).json
    listed = {task["id"]: task for task in api.app.get(api.base).json}
    assert listed[plain["id"]]["reminders"] == []
    assert listed[reminded["id"]]["reminders"] == reminded["reminders"]
    assert listed[cleared["id"]] == cleared
    assert "reminder_count" not in listed[plain["id"]]
    toggled = api.app.patch(api.item(reminded["id"]) + "/complete").json
    assert toggled["reminders"] == reminded["reminders"] and "reminder_count" not in toggled
    assert api.app.patch(api.item(plain["id"]) + "/complete").json["reminders"] == []
