"""HTTP details an outside review found wrong: HEAD, media type case, static files and Host,
dot-segment user ids, a JSON null body, and the size of a 422.

Each test here failed before its fix.
"""

from __future__ import annotations

import json

import pytest
from falcon import inspect

from service.core.config import MAX_BODY_BYTES

# The 422 lists the first 20 errors (service.api.errors.MAX_LISTED_ERRORS).
MAX_LISTED_ERRORS = 20


@pytest.mark.parametrize("case", ["APPLICATION/JSON", "Application/Json; charset=UTF-8"])
def test_media_types_are_case_insensitive(api, case):
    resp = api.app.post(
        api.base, json.dumps({"title": "shouting"}), headers={"Content-Type": case}, status=201
    )
    assert resp.json["title"] == "shouting"
    api.app.patch(
        api.item(resp.json["id"]),
        json.dumps({"title": "merged"}),
        headers={"Content-Type": "Application/Merge-Patch+JSON"},
        status=200,
    )
    api.app.post(api.base, "title=x", headers={"Content-Type": "TEXT/PLAIN"}, status=415)


def test_head_answers_like_get_without_a_body(api):
    task = api.created(title="headed")
    for path in (api.base, api.item(task["id"]), f"/api/{api.user_id}/stats"):
        got = api.app.get(path)
        head = api.app.head(path, status=200)
        assert head.body == b""
        assert head.headers["Content-Length"] == got.headers["Content-Length"]
        assert head.headers.get("ETag") == got.headers.get("ETag")
    for path in ("/livez", "/openapi.json", "/docs", "/docs/static/swagger-ui.css", "/metrics"):
        head = api.app.head(path, status=200)
        assert head.body == b""
    # Not a way round the other methods: HEAD of a route without GET is still a 405.
    api.app.head(f"{api.item(task['id'])}/complete", status=405)


def test_a_static_docs_file_allows_get_and_head_only(app):
    for method in ("post", "put", "delete", "patch"):
        resp = getattr(app, method)("/docs/static/swagger-ui.css", status=405)
        assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
        assert "POST" not in resp.headers["Allow"]
    assert "css" in app.get("/docs/static/swagger-ui.css").content_type
    app.get("/docs/static/..%2F..%2Fservice%2Fcore%2Fconfig.py", status=404)


@pytest.mark.parametrize("user_id", [".", ".."])
def test_dot_segment_user_ids_are_rejected_naming_user_id(app, user_id):
    for send in (
        lambda: app.get(f"/api/{user_id}/tasks", status=422),
        lambda: app.post_json(f"/api/{user_id}/tasks", {"title": "x"}, status=422),
    ):
        errors = send().json["errors"]
        assert errors[0]["location"] == "path" and errors[0]["field"] == "user_id"


def test_dotted_user_ids_that_are_not_dot_segments_still_work(app):
    for user_id in ("...", ".a", "a.b."):
        app.post_json(f"/api/{user_id}/tasks", {"title": "x"}, status=201)


@pytest.mark.parametrize(
    "host", ["x/../../y?z#", "evil.example/path", "a b", "user@evil.example", "x#", "[::1"]
)
def test_a_host_that_is_not_host_and_port_is_a_400_and_nothing_is_written(api, db, host):
    resp = api.app.post_json(
        api.base, {"title": "hosted"}, extra_environ={"HTTP_HOST": host}, status=400
    )
    assert "Location" not in resp.headers
    assert api.app.get(api.base).json == []
    api.app.get(api.base, extra_environ={"HTTP_HOST": host}, status=400)


@pytest.mark.parametrize(
    "host", ["tasks.example:8443", "127.0.0.1:8000", "[::1]:8000", "xn--bcher-kva.example"]
)
def test_a_valid_host_is_reflected_in_the_urls(api, host):
    resp = api.app.post_json(api.base, {"title": "x"}, extra_environ={"HTTP_HOST": host})
    assert resp.headers["Location"].startswith(f"http://{host}/api/{api.user_id}/tasks/")
    assert resp.json["url"] == resp.headers["Location"]


@pytest.mark.parametrize("body", ["null", "[]", "true", '"x"', "1"])
def test_complete_with_a_body_that_is_not_an_object_is_a_400_and_does_not_toggle(api, body):
    task = api.created(title="keep")
    api.app.patch(
        f"{api.item(task['id'])}/complete",
        body,
        headers={"Content-Type": "application/json"},
        status=400,
    )
    assert api.app.get(api.item(task["id"])).json["completed"] is False
    # No body still toggles.
    toggled = api.app.patch(f"{api.item(task['id'])}/complete", status=200).json
    assert toggled["completed"] is True


def test_a_body_of_unknown_keys_gets_a_bounded_422(api):
    keys = {}
    n = 0
    while len(json.dumps(keys)) < MAX_BODY_BYTES - 100:
        keys[f"k{n}"] = 0
        n += 1
    resp = api.app.post_json(api.base, {"title": "x", **keys}, status=422)
    assert len(resp.json["errors"]) == MAX_LISTED_ERRORS
    assert all(e["location"] == "body" for e in resp.json["errors"])
    assert f"{n - MAX_LISTED_ERRORS} more errors are not listed" in resp.json["detail"]
    assert len(resp.body) < 4096


def test_every_route_that_serves_get_serves_head(runtime):
    # Routes added later (lists, trash, ...) get HEAD too: add them through create_app's list.
    routes = inspect.inspect_app(runtime.app).routes
    served = {
        (route.path, method.method)
        for route in routes
        for method in route.methods
        if not method.internal
    }
    missing = sorted(
        path for path, method in served if method == "GET" and (path, "HEAD") not in served
    )
    assert missing == []
