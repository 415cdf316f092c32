"""Sub-tasks: parent rules (same list, 4 levels, no cycles), the parent_id filter, cascade
completion and its exact undo, and deletes that take the sub-tree along."""

from __future__ import annotations

MISSING = "00000000-0000-4000-8000-000000000000"


def fields_of(resp) -> list[str]:
    return [e["field"] for e in resp.json["errors"]]


def get(api, task: dict) -> dict:
    return api.app.get(api.item(task["id"])).json


def chain(api, levels: int, **fields) -> list[dict]:
    tasks = [api.created(title="level 1", **fields)]
    for level in range(2, levels + 1):
        tasks.append(api.created(title=f"level {level}", parent_id=tasks[-1]["id"]))
    return tasks


def test_a_sub_task_lives_in_its_parents_list(api):
    work = api.app.post_json(f"/api/{api.user_id}/lists", {"name": "W"}).json
    parent = api.created(list_id=work["id"])
    child = api.created(parent_id=parent["id"])
    assert child["parent_id"] == parent["id"] and child["list_id"] == work["id"]
    resp = api.create(status=422, parent_id=parent["id"], list_id=None)
    assert fields_of(resp) == ["parent_id"]
    assert fields_of(api.create(status=422, parent_id=MISSING)) == ["parent_id"]
    api.create(status=422, parent_id="not-a-uuid")


def test_a_fifth_level_is_refused(api):
    tasks = chain(api, 4)
    resp = api.create(status=422, parent_id=tasks[-1]["id"])
    assert fields_of(resp) == ["parent_id"] and "4 levels" in resp.json["errors"][0]["message"]
    # A two-level sub-tree cannot go under level 3 either (it would reach level 5).
    other = chain(api, 2)
    resp = api.app.patch_json(api.item(other[0]["id"]), {"parent_id": tasks[2]["id"]}, status=422)
    assert fields_of(resp) == ["parent_id"]
    moved = api.app.patch_json(api.item(other[0]["id"]), {"parent_id": tasks[1]["id"]}).json
    assert moved["parent_id"] == tasks[1]["id"]


def test_a_cycle_is_refused(api):
    a, b, c = chain(api, 3)
    for parent in (a, b, c):
        resp = api.app.patch_json(api.item(a["id"]), {"parent_id": parent["id"]}, status=422)
        assert fields_of(resp) == ["parent_id"]
    resp = api.app.post_json(
        api.item(b["id"]) + "/move", {"parent_id": c["id"], "after": None}, status=422
    )
    assert fields_of(resp) == ["parent_id"]
    assert get(api, a)["parent_id"] is None and get(api, b)["parent_id"] == a["id"]


def test_parent_id_filter_lists_one_level(api):
    a, b, c = chain(api, 3)
    d = api.created(title="sibling of b", parent_id=a["id"])

    def ids(query: str) -> set[str]:
        return {t["id"] for t in api.app.get(f"{api.base}?{query}").json}

    assert ids(f"parent_id={a['id']}") == {b["id"], d["id"]}
    assert ids(f"parent_id={b['id']}") == {c["id"]}
    assert ids("parent_id=none") == {a["id"]}
    assert ids(f"parent_id={MISSING}") == set()
    api.app.get(f"{api.base}?parent_id=top", status=422)


def test_completion_cascades_down_and_its_undo_reopens_exactly_what_it_closed(api):
    parent = api.created(title="parent")
    open_child = api.created(title="open child", parent_id=parent["id"])
    done_before = api.created(title="done before", parent_id=parent["id"])
    grandchild = api.created(title="grandchild", parent_id=open_child["id"])
    api.app.patch_json(api.item(done_before["id"]) + "/complete", {"completed": True})

    done = api.app.patch(api.item(parent["id"]) + "/complete").json
    assert done["completed"]
    for task in (open_child, grandchild, done_before):
        assert get(api, task)["completed"], task["title"]
    assert get(api, open_child)["version"] == 2

    reopened = api.app.patch(api.item(parent["id"]) + "/complete").json
    assert not reopened["completed"]
    assert not get(api, open_child)["completed"]
    assert not get(api, grandchild)["completed"]
    assert get(api, done_before)["completed"], "completed before: stays completed"


def test_cascade_through_patch_and_set_paths(api):
    parent = api.created(title="parent")
    child = api.created(title="child", parent_id=parent["id"])
    api.app.patch_json(api.item(parent["id"]), {"completed": True, "title": "renamed"})
    assert get(api, child)["completed"]
    api.app.patch_json(api.item(parent["id"]) + "/complete", {"completed": False})
    assert not get(api, child)["completed"]
    api.app.patch_json(api.item(parent["id"]) + "/complete", {"completed": True})
    assert get(api, child)["completed"]
    api.app.put_json(api.item(parent["id"]), {"completed": False})
    assert not get(api, child)["completed"]


def test_reopening_a_child_reopens_its_completed_ancestors_only(api):
    a, b, c = chain(api, 3)
    sibling = api.created(title="sibling", parent_id=a["id"])
    api.app.patch(api.item(a["id"]) + "/complete")
    assert all(get(api, t)["completed"] for t in (a, b, c, sibling))
    api.app.patch(api.item(c["id"]) + "/complete")
    assert not any(get(api, t)["completed"] for t in (a, b, c))
    assert get(api, sibling)["completed"]
    # a's earlier completion no longer owns sibling: completing and reopening a again
    # leaves sibling as it was before (completed).
    api.app.patch(api.item(a["id"]) + "/complete")
    api.app.patch(api.item(a["id"]) + "/complete")
    assert get(api, sibling)["completed"]
    assert not get(api, b)["completed"]


def test_completing_every_child_leaves_the_parent_open(api):
    parent = api.created(title="parent")
    children = [api.created(title=f"c{i}", parent_id=parent["id"]) for i in range(3)]
    for child in children:
        api.app.patch(api.item(child["id"]) + "/complete")
    assert not get(api, parent)["completed"]


def test_an_open_sub_task_under_a_completed_parent_reopens_it(api):
    parent = api.created(title="parent", completed=True)
    child = api.created(title="child", parent_id=parent["id"])
    assert not child["completed"]
    assert not get(api, parent)["completed"]
    # A completed one does not.
    api.app.patch(api.item(parent["id"]) + "/complete")
    api.created(title="done child", parent_id=parent["id"], completed=True)
    assert get(api, parent)["completed"]


def test_delete_takes_the_sub_tree(api):
    a, b, c = chain(api, 3)
    other = api.created(title="other")
    deleted = api.app.delete(api.item(a["id"])).json
    assert deleted["id"] == a["id"]
    for task in (a, b, c):
        api.app.get(api.item(task["id"]), status=404)
    assert [t["id"] for t in api.app.get(api.base).json] == [other["id"]]


def test_bulk_delete_of_pending_tasks_takes_their_completed_sub_tasks(api):
    parent = api.created(title="pending parent")
    child = api.created(title="done child", parent_id=parent["id"])
    api.app.patch(api.item(child["id"]) + "/complete")
    lone = api.created(title="done alone")
    api.app.patch(api.item(lone["id"]) + "/complete")
    assert api.app.delete(f"{api.base}?status=pending").json["deleted"] == 2
    assert [t["id"] for t in api.app.get(api.base).json] == [lone["id"]]


def test_sub_task_rules_are_isolated_per_user(api, other_api):
    theirs = other_api.created(title="theirs")
    resp = api.create(status=422, parent_id=theirs["id"])
    assert fields_of(resp) == ["parent_id"]
    mine = api.created()
    resp = api.app.post_json(api.item(mine["id"]) + "/move", {"after": theirs["id"]}, status=422)
    assert fields_of(resp) == ["after"]
    api.app.post_json(
        other_api.item(theirs["id"]).replace(other_api.user_id, api.user_id) + "/move",
        {"after": None},
        status=404,
    )
