"""The webhook endpoints: create (secret once), list, get, patch, delete, deliveries."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.conftest import make_config


def hooks(user_id: str) -> str:
    return f"/api/{user_id}/webhooks"


def create(app, user_id, status=201, **body):
    payload = {"url": "https://hooks.example.com/in", "events": ["task.created"], **body}
    return app.post_json(hooks(user_id), payload, status=status)


def test_create_shows_the_secret_once(app, user_id):
    resp = create(app, user_id, events=["task.updated", "task.created", "task.created"])
    body = resp.json
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"][len("whsec_") :])) == 32
    assert body["events"] == ["task.created", "task.updated"]
    assert body["enabled"] is True and body["version"] == 1
    assert body["url"] == "https://hooks.example.com/in"
    assert resp.headers["Location"].endswith(f"{hooks(user_id)}/{body['id']}")
    assert body["created_at"].endswith("Z")
    listed = app.get(hooks(user_id)).json
    assert [h["id"] for h in listed] == [body["id"]]
    assert "secret" not in listed[0]
    one = app.get(f"{hooks(user_id)}/{body['id']}").json
    assert "secret" not in one and one["id"] == body["id"]


def test_two_webhooks_get_different_secrets(app, user_id):
    assert create(app, user_id).json["secret"] != create(app, user_id).json["secret"]


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",
        "ftp://hooks.example.com/in",
        "hooks.example.com/in",
        "https:///nohost",
        "https://user:pw@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com/" + "a" * 2048,
    ],
)
def test_a_url_of_the_wrong_form_is_a_422_naming_url(app, user_id, url):
    resp = create(app, user_id, status=422, url=url)
    assert [e["field"] for e in resp.json["errors"]] == ["url"]


def test_a_name_that_does_not_resolve_is_accepted_at_creation(app, user_id):
    create(app, user_id, url="https://not-yet.invalid/hook")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "https://h.example.com"}, "events"),
        ({"url": "https://h.example.com", "events": []}, "events"),
        ({"url": "https://h.example.com", "events": ["task.exploded"]}, "events"),
        ({"events": ["task.created"]}, "url"),
        ({"url": "https://h.example.com", "events": ["task.created"], "x": 1}, "x"),
        ({"url": 5, "events": ["task.created"]}, "url"),
    ],
)
def test_invalid_bodies_are_422s(app, user_id, body, field):
    resp = app.post_json(hooks(user_id), body, status=422)
    # (a list item is named events.0 or events[0], as the error formatter names it)
    assert any(e["field"].startswith(field) for e in resp.json["errors"])


def test_patch_changes_fields_and_the_version(app, user_id):
    hook = create(app, user_id).json
    path = f"{hooks(user_id)}/{hook['id']}"
    changed = app.patch_json(path, {"enabled": False, "events": ["task.deleted"]}).json
    assert changed["enabled"] is False and changed["events"] == ["task.deleted"]
    assert changed["version"] == 2
    same = app.patch_json(path, {"enabled": False}).json
    assert same["version"] == 2 and same["updated_at"] == changed["updated_at"]
    assert (
        app.patch_json(path, {"url": "http://x.example"}, status=422).json["errors"][0]["field"]
        == "url"
    )
    assert app.patch_json(path, {}, status=422)
    # What a client read may be sent back as it was.
    echoed = app.patch_json(path, {**same, "enabled": True}).json
    assert echoed["enabled"] is True and echoed["version"] == 3


def test_delete_answers_the_webhook_and_then_404(app, user_id):
    hook = create(app, user_id).json
    path = f"{hooks(user_id)}/{hook['id']}"
    assert app.delete(path).json["id"] == hook["id"]
    app.get(path, status=404)
    app.delete(path, status=404)
    app.get(f"{path}/deliveries", status=404)


def test_another_users_webhook_is_a_404_like_a_missing_one(app, user_id, other_user):
    hook = create(app, user_id).json
    theirs = app.get(f"{hooks(other_user)}/{hook['id']}", status=404).json
    missing = app.get(f"{hooks(other_user)}/{uuid.uuid4()}", status=404).json
    assert theirs["detail"] == missing["detail"]
    app.patch_json(f"{hooks(other_user)}/{hook['id']}", {"enabled": False}, status=404)
    app.delete(f"{hooks(other_user)}/{hook['id']}", status=404)
    assert app.get(hooks(other_user)).json == []
    assert app.get(f"{hooks(user_id)}/{hook['id']}").json["enabled"] is True


def test_a_webhook_id_that_is_not_a_uuid_is_a_422(app, user_id):
    resp = app.get(f"{hooks(user_id)}/not-a-uuid", status=422)
    assert resp.json["errors"][0]["field"] == "webhook_id"


def test_deliveries_of_a_new_webhook_are_empty(app, user_id):
    hook = create(app, user_id).json
    assert app.get(f"{hooks(user_id)}/{hook['id']}/deliveries").json == []


def test_the_secret_is_stored_and_never_listed(app, db, user_id):
    hook = create(app, user_id).json
    row = db.execute("SELECT secret FROM webhooks WHERE id = %s", (hook["id"],)).fetchone()
    assert row["secret"] == hook["secret"]


def test_insecure_mode_accepts_plain_http(database_url):
    from webtest import TestApp

    from service.server.bootstrap import build

    runtime = build(make_config(database_url, WEBHOOK_ALLOW_INSECURE="true"))
    runtime.pool.open(wait=True, timeout=10)
    try:
        app = TestApp(runtime.app, extra_environ={"HTTP_HOST": "tasks.test"})
        user = f"user-{uuid.uuid4().hex[:12]}"
        create(app, user, url="http://127.0.0.1:9/hook")
    finally:
        runtime.stop()
