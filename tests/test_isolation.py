"""Strict user isolation: another user's task answers exactly like one that does not exist."""

from __future__ import annotations

import pytest

MISSING = "00000000-0000-4000-8000-000000000000"

VERBS = [
    ("get", None),
    ("delete", None),
    ("put_json", {"title": "stolen"}),
    ("patch_json", {"title": "stolen"}),
    ("patch_complete", None),
    ("patch_complete", {"completed": True}),
    ("post_move", {"after": None}),
    ("post_move", {"after": None, "list_id": None}),
]


def call(app, verb: str, path: str, body):
    if verb == "patch_complete":
        if body is None:
            return app.patch(f"{path}/complete", expect_errors=True)
        return app.patch_json(f"{path}/complete", body, expect_errors=True)
    if verb == "post_move":
        return app.post_json(f"{path}/move", body, expect_errors=True)
    method = getattr(app, verb)
    if body is None:
        return method(path, expect_errors=True)
    return method(path, body, expect_errors=True)


def comparable(resp) -> tuple:
    body = dict(resp.json)
    body.pop("request_id")
    headers = {
        k.lower(): v
        for k, v in resp.headers.items()
        # RateLimit counts this user's requests down: it differs between any two requests.
        if k.lower() not in {"x-request-id", "content-length", "ratelimit"}
    }
    return resp.status_int, body, headers


@pytest.mark.parametrize(("verb", "body"), VERBS)
def test_foreign_task_answers_like_a_missing_one(api, other_api, verb, body):
    theirs = other_api.created(title="private")
    foreign = call(api.app, verb, api.item(theirs["id"]), body)
    missing = call(api.app, verb, api.item(MISSING), body)
    assert foreign.status_int == 404
    assert comparable(foreign) == comparable(missing)
    assert "private" not in foreign.text
    # ...and the owner's task is untouched.
    assert other_api.app.get(other_api.item(theirs["id"])).json == theirs


def test_list_shows_only_own_tasks(api, other_api):
    mine = api.created(title="mine")
    other_api.created(title="theirs")
    listed = api.app.get(api.base).json
    assert [t["id"] for t in listed] == [mine["id"]]


def test_same_task_id_path_under_another_user_is_404(api, other_api):
    theirs = other_api.created()
    path = f"/api/{api.user_id}/tasks/{theirs['id']}"
    api.app.get(path, status=404)


def test_a_foreign_task_is_no_parent_and_no_sibling(api, other_api):
    theirs = other_api.created(title="private")
    mine = api.created()
    body = {"title": "x", "parent_id": theirs["id"]}
    foreign = api.app.post_json(api.base, body, expect_errors=True)
    missing = api.app.post_json(api.base, {**body, "parent_id": MISSING}, expect_errors=True)
    assert foreign.status_int == 422 and comparable(foreign) == comparable(missing)
    for body in ({"after": theirs["id"]}, {"parent_id": theirs["id"], "after": None}):
        foreign = api.app.post_json(api.item(mine["id"]) + "/move", body, expect_errors=True)
        swapped = {k: (MISSING if v == theirs["id"] else v) for k, v in body.items()}
        missing = api.app.post_json(api.item(mine["id"]) + "/move", swapped, expect_errors=True)
        assert foreign.status_int == 422 and comparable(foreign) == comparable(missing)
    assert other_api.app.get(other_api.item(theirs["id"])).json == theirs


def test_settings_and_stats_are_per_user(api, other_api):
    api.app.patch_json(f"/api/{api.user_id}/settings", {"time_zone": "Asia/Tokyo"})
    api.created(due_date="2000-01-01")
    assert other_api.app.get(f"/api/{other_api.user_id}/settings").json["time_zone"] == "UTC"
    assert other_api.app.get(f"/api/{other_api.user_id}/stats").json["total"] == 0
    assert other_api.app.get(f"{other_api.base}?list_id=inbox").json == []
