"""GET, PUT, PATCH and DELETE of one task: merge semantics, version and updated_at movement."""

from __future__ import annotations

import time

import pytest


def test_get_returns_the_task_with_etag(api):
    task = api.created(title="read me")
    resp = api.app.get(api.item(task["id"]))
    assert resp.json == task
    assert resp.headers["ETag"] == '"1"'


def test_get_accepts_an_uppercase_uuid(api):
    task = api.created()
    assert api.app.get(api.item(task["id"].upper())).json["id"] == task["id"]


def test_get_missing_task_is_404_problem(api):
    resp = api.app.get(api.item("00000000-0000-4000-8000-000000000000"), status=404)
    assert resp.content_type == "application/problem+json"
    assert resp.json["status"] == 404


@pytest.mark.parametrize("method", ["put_json", "patch_json"])
def test_update_changes_only_the_given_fields(api, method):
    task = api.created(title="old", description="keep me", tags=["x"], priority="low")
    time.sleep(0.002)
    resp = getattr(api.app, method)(api.item(task["id"]), {"title": "new"})
    updated = resp.json
    assert updated["title"] == "new"
    assert updated["description"] == "keep me"
    assert updated["tags"] == ["x"]
    assert updated["priority"] == "low"
    assert updated["version"] == 2
    assert updated["updated_at"] > task["updated_at"]
    assert updated["created_at"] == task["created_at"]
    assert resp.headers["ETag"] == '"2"'
    assert api.app.get(api.item(task["id"])).json == updated


def test_patch_with_null_clears_nullable_fields(api):
    task = api.created(description="d", due_at="2030-01-01T00:00:00Z", order=3)
    updated = api.app.patch_json(
        api.item(task["id"]), {"description": None, "due_at": None, "order": None}
    ).json
    assert (updated["description"], updated["due_at"], updated["order"]) == (None, None, None)


def test_patch_accepts_merge_patch_content_type(api):
    task = api.created()
    resp = api.app.patch(
        api.item(task["id"]), b'{"title": "merged"}', content_type="application/merge-patch+json"
    )
    assert resp.json["title"] == "merged"


@pytest.mark.parametrize("field", ["title", "completed", "priority", "tags"])
def test_patch_with_null_for_a_non_nullable_field_is_422(api, field):
    task = api.created()
    resp = api.app.patch_json(api.item(task["id"]), {field: None}, status=422)
    assert resp.json["errors"][0]["field"] == field


def test_update_with_the_same_values_changes_nothing(api):
    task = api.created(title="same", tags=["b", "a"], due_at="2030-01-01T00:00:00+00:00")
    unchanged = api.app.put_json(
        api.item(task["id"]),
        {"title": " same ", "tags": ["a", "b", "A"], "due_at": "2030-01-01T01:00:00+01:00"},
    ).json
    assert unchanged == task
    assert unchanged["version"] == 1


def test_update_can_send_back_what_it_read(api):
    task = api.created(title="echo")
    edited = {**task, "title": "echoed"}
    updated = api.app.put_json(api.item(task["id"]), edited).json
    assert updated["title"] == "echoed"
    assert updated["version"] == 2


@pytest.mark.parametrize("body", [{}, {"id": "x", "version": 7}])
def test_update_with_no_fields_is_422(api, body):
    task = api.created()
    resp = api.app.patch_json(api.item(task["id"]), body, status=422)
    assert "no fields" in resp.json["errors"][0]["message"].lower()


def test_update_validation_failure_writes_nothing(api):
    task = api.created(title="intact")
    api.app.patch_json(api.item(task["id"]), {"title": "new", "order": "5"}, status=422)
    assert api.app.get(api.item(task["id"])).json == task


def test_completing_through_update_sets_completed_at_and_clearing_resets_it(api):
    task = api.created()
    done = api.app.patch_json(api.item(task["id"]), {"completed": True}).json
    assert done["completed"] is True and done["completed_at"]
    renamed = api.app.patch_json(api.item(task["id"]), {"title": "still done"}).json
    assert renamed["completed_at"] == done["completed_at"]
    undone = api.app.patch_json(api.item(task["id"]), {"completed": False}).json
    assert undone["completed"] is False and undone["completed_at"] is None


def test_delete_returns_the_task_and_moves_it_to_the_trash(api, db):
    task = api.created(title="bye")
    resp = api.app.delete(api.item(task["id"]))
    assert {k: v for k, v in resp.json.items() if k not in {"deleted_at", "batch_id"}} == {
        k: v for k, v in task.items() if k != "deleted_at"
    }
    assert resp.json["deleted_at"] is not None
    assert resp.json["batch_id"] == resp.headers["X-Batch-ID"]
    api.app.get(api.item(task["id"]), status=404)
    api.app.delete(api.item(task["id"]), status=404)
    row = db.execute("SELECT batch_id::text FROM tasks WHERE id = %s", (task["id"],)).fetchone()
    assert row["batch_id"] == resp.json["batch_id"]


def test_update_of_missing_task_is_404(api):
    api.app.patch_json(api.item("00000000-0000-4000-8000-000000000000"), {"title": "x"}, status=404)
    api.app.put_json(api.item("00000000-0000-4000-8000-000000000000"), {"title": "x"}, status=404)
