"""POST .../move and sort=position: fractional positions, one row written per move, keyset
pages, moves between lists with the sub-tree, and 1,000 random moves keeping a strict order."""

from __future__ import annotations

import itertools
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MISSING = "00000000-0000-4000-8000-000000000000"


def move(api, task: dict | str, status: int = 200, **body):
    task_id = task if isinstance(task, str) else task["id"]
    return api.app.post_json(api.item(task_id) + "/move", body, status=status)


def order(api, query: str = "list_id=inbox&parent_id=none") -> list[str]:
    return [t["id"] for t in api.app.get(f"{api.base}?sort=position&limit=500&{query}").json]


def test_new_tasks_come_last_and_moves_place_them(api):
    a, b, c = (api.created(title=t) for t in "abc")
    assert order(api) == [a["id"], b["id"], c["id"]]
    moved = move(api, c, after=None).json
    assert moved["position"].encode() < a["position"].encode()
    assert order(api) == [c["id"], a["id"], b["id"]]
    move(api, c, after=a["id"])
    assert order(api) == [a["id"], c["id"], b["id"]]
    move(api, a, after=b["id"])
    assert order(api) == [c["id"], b["id"], a["id"]]
    assert order(api, "list_id=inbox&parent_id=none").__len__() == 3


def test_a_move_writes_one_row(api, db):
    tasks = [api.created(title=str(i)) for i in range(5)]
    before = {
        r["id"]: (r["version"], r["position"])
        for r in db.execute(
            "SELECT id::text AS id, version, position FROM tasks WHERE user_id = %s",
            (api.user_id,),
        )
    }
    moved = move(api, tasks[4], after=tasks[1]["id"]).json
    after = {
        r["id"]: (r["version"], r["position"])
        for r in db.execute(
            "SELECT id::text AS id, version, position FROM tasks WHERE user_id = %s",
            (api.user_id,),
        )
    }
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {moved["id"]}
    assert moved["version"] == 2


def test_move_body_rules(api):
    a, b = api.created(title="a"), api.created(title="b")
    move(api, a, status=422)  # after is required
    move(api, a, status=422, after="nope")
    move(api, a, status=422, after=None, extra=1)
    resp = move(api, a, status=422, after=a["id"])
    assert resp.json["errors"][0]["field"] == "after"
    resp = move(api, a, status=422, after=MISSING)
    assert resp.json["errors"][0]["field"] == "after"
    child = api.created(title="child", parent_id=b["id"])
    resp = move(api, a, status=422, after=child["id"])  # not a sibling at the top level
    assert resp.json["errors"][0]["field"] == "after"
    moved = move(api, a, parent_id=b["id"], after=child["id"]).json
    assert moved["parent_id"] == b["id"]
    assert order(api, f"parent_id={b['id']}") == [child["id"], a["id"]]
    move(api, MISSING, status=404, after=None)
    api.app.post_json(
        api.item(a["id"]) + "/move", {"after": None}, headers={"If-Match": '"1"'}, status=412
    )


def test_move_between_lists_takes_the_sub_tree(api):
    home = api.app.post_json(f"/api/{api.user_id}/lists", {"name": "Home"}).json
    anchor = api.created(title="anchor", list_id=home["id"])
    root = api.created(title="root")
    child = api.created(title="child", parent_id=root["id"])
    grandchild = api.created(title="grandchild", parent_id=child["id"])
    moved = move(api, root, list_id=home["id"], after=None).json
    assert moved["list_id"] == home["id"] and moved["parent_id"] is None
    for task in (child, grandchild):
        now = api.app.get(api.item(task["id"])).json
        assert now["list_id"] == home["id"]
        assert now["parent_id"] == task["parent_id"] and now["position"] == task["position"]
    assert order(api, f"list_id={home['id']}&parent_id=none") == [root["id"], anchor["id"]]
    assert order(api, f"parent_id={root['id']}") == [child["id"]]
    assert order(api, "list_id=inbox") == []
    assert api.app.get(f"/api/{api.user_id}/lists/{home['id']}").json["open_count"] == 4
    # Back under a task of the inbox, after nobody: the sub-tree follows again.
    inbox_parent = api.created(title="inbox parent")
    move(api, root, parent_id=inbox_parent["id"], after=None)
    assert api.app.get(api.item(grandchild["id"])).json["list_id"] is None
    resp = move(api, root, status=422, parent_id=inbox_parent["id"], list_id=home["id"], after=None)
    assert resp.json["errors"][0]["field"] == "parent_id"


def test_sort_position_pages_with_keyset_cursors(api):
    home = api.app.post_json(f"/api/{api.user_id}/lists", {"name": "Home"}).json
    tasks = [api.created(title=str(i)) for i in range(6)]
    tasks += [api.created(title=f"h{i}", list_id=home["id"]) for i in range(3)]
    tasks += [api.created(title=f"c{i}", parent_id=tasks[0]["id"]) for i in range(3)]
    move(api, tasks[5], after=None)
    for sort in ("position", "-position"):
        full = [t["id"] for t in api.app.get(f"{api.base}?sort={sort}&limit=500").json]
        assert sorted(full) == sorted(t["id"] for t in tasks)
        paged, url = [], f"{api.base}?sort={sort}&limit=4"
        while url:
            resp = api.app.get(url)
            paged += [t["id"] for t in resp.json]
            link = resp.headers.get("Link")
            url = link[1 : link.index(">")].replace("http://tasks.test", "") if link else None
        assert paged == full
    ascending = [t["id"] for t in api.app.get(f"{api.base}?sort=position&limit=500").json]
    descending = [t["id"] for t in api.app.get(f"{api.base}?sort=-position&limit=500").json]
    assert descending == ascending[::-1]
    # Inbox first, then top level before sub-tasks, then by position.
    assert ascending[0] == tasks[5]["id"]


MOVES = st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.booleans(), st.booleans()),
    min_size=1000,
    max_size=1000,
)


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(moves=MOVES)
def test_1000_random_moves_keep_a_strict_total_order(app, moves):
    from tests.conftest import Api

    api = Api(app, f"moves-{uuid.uuid4().hex[:12]}")
    lists = {
        None: None,
        "L": api.app.post_json(f"/api/{api.user_id}/lists", {"name": "L"}).json["id"],
    }
    groups: dict[str | None, list[str]] = {None: [], "L": []}
    for i in range(12):
        group = None if i % 2 else "L"
        groups[group].append(api.created(title=f"t{i}", list_id=lists[group])["id"])

    def check() -> None:
        for group, members in groups.items():
            key = "inbox" if group is None else lists[group]
            rows = api.app.get(f"{api.base}?sort=position&limit=500&list_id={key}").json
            assert [r["id"] for r in rows] == members
            keys = [r["position"].encode() for r in rows]
            assert all(x < y for x, y in itertools.pairwise(keys)), "positions strictly increase"

    for n, (pick, target, first, switch) in enumerate(moves):
        source = None if pick % 2 else "L"
        if not groups[source]:
            source = "L" if source is None else None
        task = groups[source][pick % len(groups[source])]
        dest = ("L" if source is None else None) if switch else source
        groups[source].remove(task)
        members = groups[dest]
        if first or not members:
            after, index = None, 0
        else:
            index = target % len(members)
            after, index = members[index], index + 1
        body = {"after": after}
        if dest != source:
            body["list_id"] = lists[dest]
        move(api, task, **body)
        members.insert(index, task)
        if n % 100 == 99:
            check()
    check()
