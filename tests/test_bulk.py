"""DELETE and PATCH /api/{user_id}/tasks: bulk changes by status, only ever the user's own."""

from __future__ import annotations

import pytest


@pytest.fixture
def three(api):
    """Two pending tasks and a completed one."""
    api.ids = [
        api.created(title="p1")["id"],
        api.created(title="p2")["id"],
        api.created(title="c1", completed=True)["id"],
    ]
    return api


def stored(db, user_id: str) -> dict[str, dict]:
    rows = db.execute("SELECT * FROM tasks WHERE user_id = %s", (user_id,)).fetchall()
    return {str(r["id"]): r for r in rows}


@pytest.mark.parametrize(
    ("status", "deleted", "left"),
    [
        ("all", 3, []),
        ("pending", 2, ["c1"]),
        ("completed", 1, ["p1", "p2"]),
    ],
)
def test_delete_by_status(three, status, deleted, left):
    resp = three.app.delete(f"{three.base}?status={status}")
    assert resp.json["deleted"] == deleted
    assert [t["title"] for t in three.app.get(three.base).json] == left


def test_delete_defaults_to_all(three):
    assert three.app.delete(three.base).json["deleted"] == 3
    assert three.app.delete(three.base).json["deleted"] == 0


def test_delete_leaves_other_users_alone(three, other_api, db):
    theirs = other_api.created(title="theirs", completed=True)
    assert three.app.delete(three.base).json["deleted"] == 3
    assert list(stored(db, other_api.user_id)) == [theirs["id"]]


def test_complete_all_counts_only_the_changed(three, db):
    before = stored(db, three.user_id)
    resp = three.app.patch_json(three.base, {"completed": True})
    assert resp.json == {"updated": 2}
    after = stored(db, three.user_id)
    for task_id in three.ids[:2]:
        assert after[task_id]["completed"] and after[task_id]["completed_at"] is not None
        assert after[task_id]["version"] == before[task_id]["version"] + 1
        assert after[task_id]["updated_at"] > before[task_id]["updated_at"]
    untouched = three.ids[2]
    assert after[untouched] == before[untouched]
    assert three.app.patch_json(three.base, {"completed": True}).json == {"updated": 0}
    assert stored(db, three.user_id) == after


def test_reopen_clears_completed_at(three, db):
    assert three.app.patch_json(three.base, {"completed": False}).json == {"updated": 1}
    row = stored(db, three.user_id)[three.ids[2]]
    assert row["completed"] is False and row["completed_at"] is None and row["version"] == 2


@pytest.mark.parametrize(
    ("status", "completed", "updated"),
    [
        ("pending", True, 2),
        ("pending", False, 0),
        ("completed", False, 1),
        ("completed", True, 0),
        ("all", False, 1),
    ],
)
def test_patch_honours_status(three, status, completed, updated):
    resp = three.app.patch_json(f"{three.base}?status={status}", {"completed": completed})
    assert resp.json == {"updated": updated}


def test_patch_leaves_other_users_alone(three, other_api, db):
    theirs = other_api.created(title="theirs")
    before = stored(db, other_api.user_id)
    assert three.app.patch_json(three.base, {"completed": True}).json == {"updated": 2}
    assert stored(db, other_api.user_id) == before
    assert other_api.app.get(other_api.item(theirs["id"])).json["completed"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "completed"),
        ({"completed": "true"}, "completed"),
        ({"completed": 1}, "completed"),
        ({"completed": None}, "completed"),
        ({"completed": True, "title": "x"}, "title"),
    ],
)
def test_patch_with_a_bad_body_is_422_and_changes_nothing(three, db, body, field):
    before = stored(db, three.user_id)
    resp = three.app.patch_json(three.base, body, status=422)
    assert resp.content_type == "application/problem+json"
    assert {"location": "body", "field": field} in [
        {"location": e["location"], "field": e["field"]} for e in resp.json["errors"]
    ]
    assert stored(db, three.user_id) == before


def test_patch_without_a_json_object_is_400(three):
    three.app.patch(three.base, "[true]", content_type="application/json", status=400)
    three.app.patch(three.base, "{", content_type="application/json", status=400)


@pytest.mark.parametrize("method", ["delete", "patch"])
@pytest.mark.parametrize("query", ["status=done", "priority=high", "status=all&status=pending"])
def test_bulk_with_a_bad_query_is_422_and_changes_nothing(three, db, method, query):
    before = stored(db, three.user_id)
    url = f"{three.base}?{query}"
    if method == "delete":
        resp = three.app.delete(url, status=422)
    else:
        resp = three.app.patch_json(url, {"completed": True}, status=422)
    assert resp.json["errors"][0]["location"] == "query"
    assert resp.json["errors"][0]["field"] in {"status", "priority"}
    assert stored(db, three.user_id) == before
