"""GET /api/{user_id}/tasks: default order and limit."""

from __future__ import annotations


def test_empty_list_is_an_empty_array(api):
    resp = api.app.get(api.base)
    assert resp.json == []
    assert "Link" not in resp.headers


def test_list_is_in_creation_order(api):
    ids = [api.created(title=f"t{i}")["id"] for i in range(5)]
    assert [t["id"] for t in api.app.get(api.base).json] == ids


def test_list_honours_limit(api):
    ids = [api.created(title=f"t{i}")["id"] for i in range(4)]
    assert [t["id"] for t in api.app.get(api.base, {"limit": "2"}).json] == ids[:2]


def test_list_items_are_full_tasks(api):
    task = api.created(tags=["a"])
    assert api.app.get(api.base).json == [task]


def test_default_limit_is_100(api, db):
    db.execute(
        "INSERT INTO tasks (user_id, title) SELECT %s, 'bulk ' || g FROM generate_series(1, 120) g",
        (api.user_id,),
    )
    assert len(api.app.get(api.base).json) == 100
    assert len(api.app.get(api.base, {"limit": "500"}).json) == 120
