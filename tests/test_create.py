"""POST /api/{user_id}/tasks: defaults, normalisation, headers, and what the database holds."""

from __future__ import annotations

import re
import uuid

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def test_create_returns_task_with_defaults(api):
    resp = api.create(title="Buy milk")
    task = resp.json
    assert uuid.UUID(task["id"]).version == 4
    assert task["id"] == task["id"].lower()
    assert task == {
        "id": task["id"],
        "user_id": api.user_id,
        "title": "Buy milk",
        "description": None,
        "completed": False,
        "completed_at": None,
        "priority": "normal",
        "due_at": None,
        "tags": [],
        "order": None,
        "url": f"http://tasks.test/api/{api.user_id}/tasks/{task['id']}",
        "version": 1,
        "created_at": task["created_at"],
        "updated_at": task["updated_at"],
        "list_id": None,
        "parent_id": None,
        "position": task["position"],
        "time_zone": None,
        "due_date": None,
        "deleted_at": None,
        "recurrence": None,
        "reminders": [],
    }
    assert isinstance(task["position"], str) and task["position"]
    assert RFC3339_UTC.match(task["created_at"])
    assert task["updated_at"] == task["created_at"]


def test_create_sets_location_and_etag(api):
    resp = api.create()
    assert resp.headers["Location"] == resp.json["url"]
    assert resp.headers["ETag"] == '"1"'
    assert resp.content_type == "application/json"


def test_create_stores_every_field(api, db):
    task = api.created(
        title="  Write report  ",
        description="Quarterly\n\tnumbers\r\n",
        priority="high",
        due_at="2026-01-24T10:00:00+02:00",
        tags=["Work", " urgent ", "work"],
        order=-7,
    )
    assert task["title"] == "Write report"
    assert task["description"] == "Quarterly\n\tnumbers\r\n"
    assert task["priority"] == "high"
    assert task["due_at"] == "2026-01-24T08:00:00.000000Z"
    assert task["tags"] == ["urgent", "work"]
    assert task["order"] == -7
    row = db.execute(
        'SELECT title, tags, priority::text AS priority, "order" FROM tasks'
        " WHERE user_id = %s AND id = %s",
        (api.user_id, task["id"]),
    ).fetchone()
    assert row == {
        "title": "Write report",
        "tags": ["urgent", "work"],
        "priority": "high",
        "order": -7,
    }


def test_create_completed_sets_completed_at(api):
    task = api.created(completed=True)
    assert task["completed"] is True
    assert RFC3339_UTC.match(task["completed_at"])


def test_create_ignores_read_only_fields(api):
    task = api.created(
        id=str(uuid.uuid4()),
        user_id="someone-else",
        completed_at="2020-01-01T00:00:00Z",
        url="http://evil.example/x",
        version=99,
        created_at="2020-01-01T00:00:00Z",
        updated_at="2020-01-01T00:00:00Z",
    )
    assert task["user_id"] == api.user_id
    assert task["version"] == 1
    assert task["completed_at"] is None
    assert not task["created_at"].startswith("2020")
    assert task["url"].startswith("http://tasks.test/")


def test_create_accepts_a_task_read_back_from_the_api(api):
    original = api.created(title="round trip", tags=["a"])
    copy = api.created(**original)
    assert copy["id"] != original["id"]
    assert copy["title"] == "round trip"
    assert copy["tags"] == ["a"]


def test_created_task_is_readable(api):
    task = api.created(title="readable")
    assert api.app.get(api.item(task["id"])).json == task


def test_url_honours_host_header_and_escapes_user_id(app):
    resp = app.post_json(
        "/api/a|b/tasks", {"title": "x"}, extra_environ={"HTTP_HOST": "example.org:8443"}
    )
    assert resp.json["url"].startswith("http://example.org:8443/api/a%7Cb/tasks/")
    assert (
        app.get(resp.json["url"].replace("http://example.org:8443", "")).json["id"]
        == resp.json["id"]
    )
