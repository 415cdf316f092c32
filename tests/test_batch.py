"""POST /api/{user_id}/batch: order, independence, temp_id chains, per-operation If-Match, the
100-operation limit, replay under one Idempotency-Key, rate-limit charge and isolation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from webtest import TestApp

from tests.test_rate_limits import running, state

MISSING = "00000000-0000-4000-8000-000000000000"


def batch(api, operations: list, status: int = 200, headers: dict | None = None):
    return api.app.post_json(
        f"/api/{api.user_id}/batch", {"operations": operations}, status=status, headers=headers
    )


def test_operations_apply_in_order_and_answer_as_the_single_routes(api):
    result = batch(
        api,
        [
            {"op": "create", "temp_id": "a", "body": {"title": "first"}},
            {"op": "update", "id": "a", "body": {"title": "renamed", "priority": "high"}},
            {"op": "complete", "id": "a"},
            {"op": "complete", "id": "a", "body": {"completed": True}},
            {"op": "delete", "id": "a"},
        ],
    ).json
    statuses = [r["status"] for r in result["results"]]
    assert statuses == [201, 200, 200, 200, 200]
    created, updated, toggled, kept, deleted = (r["body"] for r in result["results"])
    task_id = result["temp_ids"]["a"]
    assert created["id"] == task_id and created["title"] == "first" and created["version"] == 1
    assert updated["title"] == "renamed" and updated["priority"] == "high"
    assert toggled["completed"] is True and kept["version"] == toggled["version"]
    assert deleted["id"] == task_id
    assert created["url"].endswith(f"/api/{api.user_id}/tasks/{task_id}")
    api.app.get(api.item(task_id), status=404)


def test_one_failing_operation_does_not_undo_the_others(api):
    result = batch(
        api,
        [
            {"op": "create", "body": {"title": "kept"}},
            {"op": "create", "body": {"title": ""}},
            {"op": "update", "id": MISSING, "body": {"title": "x"}},
            {"op": "update", "id": "not-a-uuid", "body": {"title": "x"}},
            {"op": "create", "body": {"title": "also kept"}},
        ],
    ).json["results"]
    assert [r["status"] for r in result] == [201, 422, 404, 422, 201]
    invalid, missing, bad_id = result[1]["body"], result[2]["body"], result[3]["body"]
    assert invalid["errors"][0]["location"] == "body" and invalid["errors"][0]["field"] == "title"
    single_missing = api.app.patch_json(api.item(MISSING), {"title": "x"}, status=404).json
    assert missing["detail"] == single_missing["detail"] and missing["status"] == 404
    assert bad_id["errors"] == [
        {"location": "path", "field": "task_id", "message": "Must be a UUID."}
    ]
    titles = sorted(t["title"] for t in api.app.get(api.base).json)
    assert titles == ["also kept", "kept"]


def test_temp_ids_chain_parent_and_after(api):
    result = batch(
        api,
        [
            {"op": "create", "temp_id": "parent", "body": {"title": "parent"}},
            {"op": "create", "temp_id": "c1", "body": {"title": "c1", "parent_id": "parent"}},
            {"op": "create", "temp_id": "c2", "body": {"title": "c2", "parent_id": "parent"}},
            {"op": "move", "id": "c1", "body": {"after": "c2"}},
        ],
    ).json
    assert [r["status"] for r in result["results"]] == [201, 201, 201, 200]
    ids = result["temp_ids"]
    assert set(ids) == {"parent", "c1", "c2"}
    children = api.app.get(f"{api.base}?parent_id={ids['parent']}&sort=position").json
    assert [t["id"] for t in children] == [ids["c2"], ids["c1"]]
    assert all(t["parent_id"] == ids["parent"] for t in children)


def test_a_temp_id_of_a_failed_create_is_not_a_task(api):
    result = batch(
        api,
        [
            {"op": "create", "temp_id": "bad", "body": {"title": ""}},
            {"op": "create", "body": {"title": "child", "parent_id": "bad"}},
            {"op": "delete", "id": "bad"},
        ],
    ).json
    assert [r["status"] for r in result["results"]] == [422, 422, 422]
    assert result["temp_ids"] == {}
    assert result["results"][1]["body"]["errors"][0]["field"] == "parent_id"


def test_if_match_per_operation(api):
    task = api.created(title="t")
    result = batch(
        api,
        [
            {"op": "update", "id": task["id"], "if_match": '"1"', "body": {"title": "v2"}},
            {"op": "update", "id": task["id"], "if_match": '"1"', "body": {"title": "stale"}},
            {"op": "complete", "id": task["id"], "if_match": 'W/"2"'},
            {"op": "delete", "id": task["id"], "if_match": '"7", "2"'},
        ],
    ).json["results"]
    assert [r["status"] for r in result] == [200, 412, 412, 200]
    assert result[1]["body"]["status"] == 412 and "If-Match" in result[1]["body"]["detail"]
    assert result[3]["body"]["title"] == "v2"


def test_the_envelope_is_validated_naming_the_operation(api):
    def errors(body) -> list:
        return api.app.post_json(f"/api/{api.user_id}/batch", body, status=422).json["errors"]

    ops = [{"op": "create", "body": {"title": "x"}}] * 3 + [{"op": "explode"}]
    assert errors({"operations": ops})[0]["field"] == "operations.3.op"
    assert errors({"operations": [{"op": "update"}]})[0]["field"] == "operations.0.id"
    assert errors({"operations": [{"op": "create", "id": MISSING}]})[0]["field"] == (
        "operations.0.id"
    )
    twice = [{"op": "create", "temp_id": "t", "body": {"title": "x"}}] * 2
    assert errors({"operations": twice})[0]["field"] == "operations.1.temp_id"
    assert errors({"operations": [{"op": "create", "body": []}]})[0]["field"] == (
        "operations.0.body"
    )
    assert errors({})[0]["field"] == "operations"
    assert errors({"operations": [], "extra": 1})[0]["field"] == "extra"
    assert api.app.get(api.base).json == []


def test_at_most_100_operations(api):
    many = [{"op": "create", "body": {"title": f"t{i}"}} for i in range(101)]
    error = batch(api, many, status=422).json["errors"][0]
    assert error["field"] == "operations"
    assert api.app.get(api.base).json == []
    result = batch(api, many[:100]).json["results"]
    assert len(result) == 100 and {r["status"] for r in result} == {201}
    assert len(api.app.get(f"{api.base}?limit=500").json) == 100


def test_an_idempotency_key_replays_the_whole_batch(api):
    ops = [
        {"op": "create", "temp_id": "a", "body": {"title": "once"}},
        {"op": "update", "id": MISSING, "body": {"title": "x"}},
    ]
    key = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}
    first = batch(api, ops, headers=key)
    again = batch(api, ops, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert len(api.app.get(api.base).json) == 1
    changed = [{"op": "create", "body": {"title": "other"}}]
    batch(api, changed, status=422, headers=key)


def test_under_an_idempotency_key_a_failing_operation_still_leaves_the_others(api):
    task = api.created(title="t")
    key = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}
    result = batch(
        api,
        [
            {"op": "update", "id": task["id"], "body": {"title": "changed"}},
            {"op": "move", "id": task["id"], "body": {"after": MISSING}},
            {"op": "create", "body": {"title": "new"}},
        ],
        headers=key,
    ).json["results"]
    assert [r["status"] for r in result] == [200, 422, 201]
    assert sorted(t["title"] for t in api.app.get(api.base).json) == ["changed", "new"]


def test_another_users_task_answers_like_a_missing_one(api, other_api):
    theirs = other_api.created(title="theirs")
    result = batch(
        api,
        [
            {"op": "update", "id": theirs["id"], "body": {"title": "mine"}},
            {"op": "update", "id": MISSING, "body": {"title": "mine"}},
            {"op": "delete", "id": theirs["id"]},
            {"op": "delete", "id": MISSING},
            {"op": "create", "body": {"title": "c", "parent_id": theirs["id"]}},
            {"op": "create", "body": {"title": "c", "parent_id": MISSING}},
        ],
    ).json["results"]
    for foreign, missing in zip(result[::2], result[1::2], strict=True):
        assert foreign["status"] == missing["status"]
        foreign["body"].pop("request_id"), missing["body"].pop("request_id")
        assert foreign["body"] == missing["body"]
    assert other_api.app.get(other_api.item(theirs["id"])).json["title"] == "theirs"


@pytest.fixture
def ten_per_minute(database_url) -> Iterator[TestApp]:
    yield from running(database_url, RATE_LIMIT="10/minute")


def test_a_batch_is_charged_one_per_operation(ten_per_minute):
    user = f"batch-{uuid.uuid4().hex[:10]}"
    ops = [{"op": "create", "body": {"title": f"t{i}"}} for i in range(4)]
    resp = ten_per_minute.post_json(f"/api/{user}/batch", {"operations": ops})
    assert state(resp)[0] == 6
    too_many = [{"op": "create", "body": {"title": "x"}}] * 7
    refused = ten_per_minute.post_json(f"/api/{user}/batch", {"operations": too_many}, status=429)
    assert "Retry-After" in refused.headers
    assert len(ten_per_minute.get(f"/api/{user}/tasks").json) == 4
