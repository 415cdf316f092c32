"""GET /api/{user_id}/stats: total, completed, pending and overdue, for the user only."""

from __future__ import annotations


def stats(api) -> dict:
    return api.app.get(f"/api/{api.user_id}/stats").json


def test_stats_of_a_new_user_are_zero(api):
    assert stats(api) == {"total": 0, "completed": 0, "pending": 0, "overdue": 0}


def test_stats_count_each_kind(api):
    api.created(title="overdue", due_at="2000-01-01T00:00:00Z")
    api.created(title="overdue too", due_at="2020-06-01T12:00:00+02:00")
    api.created(title="due later", due_at="2999-01-01T00:00:00Z")
    api.created(title="no due")
    api.created(title="done late", due_at="2000-01-01T00:00:00Z", completed=True)
    api.created(title="done", completed=True)
    assert stats(api) == {"total": 6, "completed": 2, "pending": 4, "overdue": 2}


def test_stats_follow_changes(api):
    task = api.created(title="late", due_at="2000-01-01T00:00:00Z")
    assert stats(api)["overdue"] == 1
    api.app.patch(f"{api.item(task['id'])}/complete")
    assert stats(api) == {"total": 1, "completed": 1, "pending": 0, "overdue": 0}
    api.app.delete(api.item(task["id"]))
    assert stats(api)["total"] == 0


def test_stats_ignore_other_users(api, other_api):
    api.created(title="mine")
    other_api.created(title="theirs", due_at="2000-01-01T00:00:00Z")
    other_api.created(title="theirs done", completed=True)
    assert stats(api) == {"total": 1, "completed": 0, "pending": 1, "overdue": 0}
    assert stats(other_api) == {"total": 2, "completed": 1, "pending": 1, "overdue": 1}


def test_stats_reject_a_bad_user_id(app):
    resp = app.get("/api/bad%20user/stats", status=422)
    assert resp.json["errors"][0]["field"] == "user_id"


def test_stats_allow_only_get(api):
    api.app.post_json(f"/api/{api.user_id}/stats", {}, status=405)
