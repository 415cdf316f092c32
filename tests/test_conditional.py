"""ETag preconditions: If-None-Match on GET (304), If-Match on writes (412), and races."""

from __future__ import annotations

import threading

import pytest
from webtest import TestApp

MISSING = "00000000-0000-4000-8000-000000000000"

WRITES = [
    ("put_json", "", {"title": "changed"}),
    ("patch_json", "", {"title": "changed"}),
    ("patch_json", "/complete", {"completed": True}),
    ("patch", "/complete", None),
    ("delete", "", None),
]


def write(api, method: str, suffix: str, body, task_id: str, status, if_match: str):
    """Send one of the conditional writes with an If-Match header."""
    path = api.item(task_id) + suffix
    call = getattr(api.app, method)
    headers = {"If-Match": if_match}
    if body is None:
        return call(path, headers=headers, status=status)
    return call(path, body, headers=headers, status=status)


# --- If-None-Match -----------------------------------------------------------------------


@pytest.mark.parametrize("tag", ['"1"', 'W/"1"', '"7", "1"', "*"])
def test_get_with_a_matching_if_none_match_is_304_without_body(api, tag):
    task = api.created()
    resp = api.app.get(api.item(task["id"]), headers={"If-None-Match": tag}, status=304)
    assert resp.body == b""
    assert resp.headers["ETag"] == '"1"'


def test_get_with_a_stale_if_none_match_returns_the_task(api):
    task = api.created()
    api.app.patch_json(api.item(task["id"]), {"title": "v2"})
    resp = api.app.get(api.item(task["id"]), headers={"If-None-Match": '"1"'}, status=200)
    assert resp.json["version"] == 2
    assert resp.headers["ETag"] == '"2"'


def test_if_none_match_on_a_missing_task_is_404(api):
    api.app.get(api.item(MISSING), headers={"If-None-Match": "*"}, status=404)


# --- If-Match ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
@pytest.mark.parametrize("tag", ['"1"', '"9", "1"', "*"])
def test_write_with_a_matching_if_match_succeeds(api, db, method, suffix, body, tag):
    task = api.created()
    resp = write(api, method, suffix, body, task["id"], 200, tag)
    assert resp.json["id"] == task["id"]
    row = db.execute(
        "SELECT version, deleted_at FROM tasks WHERE id = %s", (task["id"],)
    ).fetchone()
    if method == "delete":
        assert row["deleted_at"] is not None
    else:
        assert row["version"] == 2
        assert resp.headers["ETag"] == '"2"'


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
@pytest.mark.parametrize("tag", ['"2"', 'W/"1"', '"abc"', '"1 "', '"99999999999"'])
def test_write_with_a_mismatching_if_match_is_412_and_changes_nothing(
    api, db, method, suffix, body, tag
):
    task = api.created()
    resp = write(api, method, suffix, body, task["id"], 412, tag)
    assert resp.content_type == "application/problem+json"
    assert resp.json["status"] == 412
    assert "If-Match" in resp.json["detail"]
    row = db.execute("SELECT version, title FROM tasks WHERE id = %s", (task["id"],)).fetchone()
    assert row == {"version": 1, "title": task["title"]}


def test_unchanged_update_with_a_stale_if_match_is_412(api):
    task = api.created(title="same")
    api.app.patch_json(api.item(task["id"]), {"title": "other"})
    api.app.patch_json(api.item(task["id"]), {"title": "same"})  # version 3, title "same"
    api.app.patch_json(
        api.item(task["id"]), {"title": "same"}, headers={"If-Match": '"1"'}, status=412
    )


def test_unchanged_update_with_the_current_if_match_is_200_unchanged(api):
    task = api.created(title="same")
    resp = api.app.patch_json(
        api.item(task["id"]), {"title": "same"}, headers={"If-Match": '"1"'}, status=200
    )
    assert resp.json == task


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
def test_if_match_on_a_foreign_task_looks_exactly_like_a_missing_one(
    api, other_api, method, suffix, body
):
    foreign = other_api.created()
    a = write(api, method, suffix, body, foreign["id"], 404, '"1"')
    b = write(api, method, suffix, body, MISSING, 404, '"1"')
    assert {**a.json, "request_id": None} == {**b.json, "request_id": None}
    assert other_api.app.get(other_api.item(foreign["id"])).json == foreign


def test_read_modify_write_with_the_returned_etag(api):
    task = api.created()
    etag = api.app.get(api.item(task["id"])).headers["ETag"]
    first = api.app.put_json(api.item(task["id"]), {"title": "one"}, headers={"If-Match": etag})
    api.app.put_json(api.item(task["id"]), {"title": "two"}, headers={"If-Match": etag}, status=412)
    api.app.put_json(
        api.item(task["id"]), {"title": "two"}, headers={"If-Match": first.headers["ETag"]}
    )


# --- races -------------------------------------------------------------------------------


def run_together(app: TestApp, count: int, request) -> list:
    """Run `request(app)` in `count` threads released at the same instant; return results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = request(TestApp(app.app, extra_environ=app.extra_environ))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_patches_on_the_same_version_let_exactly_one_through(api, db, round_):
    task = api.created(title="start")

    def patch(client: TestApp) -> int:
        resp = client.patch_json(
            api.item(task["id"]),
            {"title": f"by-{threading.get_ident()}"},
            headers={"If-Match": '"1"'},
            expect_errors=True,
        )
        return resp.status_int

    statuses = run_together(api.app, 4, patch)
    assert sorted(statuses) == [200, 412, 412, 412]
    row = db.execute("SELECT version FROM tasks WHERE id = %s", (task["id"],)).fetchone()
    assert row["version"] == 2


def test_concurrent_conditional_toggles_toggle_once(api, db):
    task = api.created()

    def toggle(client: TestApp) -> int:
        return client.patch(
            api.item(task["id"]) + "/complete", headers={"If-Match": '"1"'}, expect_errors=True
        ).status_int

    statuses = run_together(api.app, 4, toggle)
    assert sorted(statuses) == [200, 412, 412, 412]
    row = db.execute("SELECT completed, version FROM tasks WHERE id = %s", (task["id"],)).fetchone()
    assert row == {"completed": True, "version": 2}
