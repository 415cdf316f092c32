"""PATCH .../complete: no body toggles, {"completed": bool} sets idempotently."""

from __future__ import annotations

import pytest


def complete_path(api, task_id: str) -> str:
    return f"{api.item(task_id)}/complete"


def test_toggle_without_body_flips_and_moves_version(api):
    task = api.created()
    done = api.app.patch(complete_path(api, task["id"])).json
    assert done["completed"] is True and done["completed_at"]
    assert done["version"] == 2
    undone = api.app.patch(complete_path(api, task["id"])).json
    assert undone["completed"] is False and undone["completed_at"] is None
    assert undone["version"] == 3


def test_toggle_answers_with_etag(api):
    task = api.created()
    resp = api.app.patch(complete_path(api, task["id"]))
    assert resp.headers["ETag"] == '"2"'


@pytest.mark.parametrize("value", [True, False])
def test_set_is_idempotent(api, value):
    task = api.created(completed=not value)
    first = api.app.patch_json(complete_path(api, task["id"]), {"completed": value}).json
    second = api.app.patch_json(complete_path(api, task["id"]), {"completed": value}).json
    assert first["completed"] is value
    assert second == first
    assert first["version"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"completed": "true"},
        {"completed": 1},
        {"completed": None},
        {},
        {"completed": True, "title": "x"},
    ],
)
def test_set_rejects_anything_but_a_boolean(api, body):
    task = api.created()
    api.app.patch_json(complete_path(api, task["id"]), body, status=422)
    assert api.app.get(api.item(task["id"])).json["version"] == 1


def test_toggle_of_missing_task_is_404(api):
    api.app.patch(complete_path(api, "00000000-0000-4000-8000-000000000000"), status=404)


def test_toggle_with_non_json_body_is_415(api):
    task = api.created()
    api.app.patch(complete_path(api, task["id"]), b"x", content_type="text/plain", status=415)
