"""GET /api/{user_id}/tasks sorting and paging: every order, both directions, Link headers."""

from __future__ import annotations

import pytest

from service.api.schemas import SORTS
from tests.listing_model import expected_order, ids, next_url, relative, walk


@pytest.fixture
def varied(api, db):
    """Twelve tasks with ties on every key, missing due_at / order, and mixed-case titles."""
    rows = [
        # title, priority, due_at, order, created_at, updated_at
        (
            "banana",
            "low",
            "2026-01-02T00:00:00Z",
            3,
            "2026-01-01T00:00:00Z",
            "2026-02-01T00:00:00Z",
        ),
        ("Apple", "high", None, None, "2026-01-01T00:00:00Z", "2026-02-03T00:00:00Z"),
        (
            "apple",
            "high",
            "2026-01-02T00:00:00Z",
            -5,
            "2026-01-01T00:00:00Z",
            "2026-02-01T00:00:00Z",
        ),
        (
            "Zebra",
            "normal",
            "2026-01-01T00:00:00Z",
            3,
            "2026-01-02T00:00:00Z",
            "2026-02-02T00:00:00Z",
        ),
        ("_under", "normal", None, 0, "2026-01-02T00:00:00Z", "2026-02-02T00:00:00Z"),
        (
            "~tilde",
            "low",
            "2026-01-03T00:00:00Z",
            None,
            "2026-01-03T00:00:00Z",
            "2026-02-04T00:00:00Z",
        ),
        (
            "éclair",
            "normal",
            "2026-01-01T00:00:00Z",
            2147483647,
            "2026-01-03T00:00:00Z",
            "2026-02-04T00:00:00Z",
        ),
        ("Éclair", "high", None, -2147483648, "2026-01-04T00:00:00Z", "2026-02-05T00:00:00Z"),
        (
            "zebra",
            "low",
            "2026-01-01T00:00:00Z",
            None,
            "2026-01-04T00:00:00Z",
            "2026-02-05T00:00:00Z",
        ),
        (
            "10 items",
            "normal",
            "2025-12-31T23:59:59.999999Z",
            3,
            "2026-01-05T00:00:00Z",
            "2026-02-06T00:00:00Z",
        ),
        ("9 items", "high", None, None, "2026-01-05T00:00:00Z", "2026-02-06T00:00:00Z"),
        (
            "Banana",
            "normal",
            "2026-01-02T00:00:00Z",
            0,
            "2026-01-06T00:00:00Z",
            "2026-02-07T00:00:00Z",
        ),
    ]
    for title, priority, due, order, created, updated in rows:
        db.execute(
            """INSERT INTO tasks (user_id, title, priority, due_at, "order", created_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (api.user_id, title, priority, due, order, created, updated),
        )
    api.tasks = api.app.get(api.base, {"limit": "500"}).json
    assert len(api.tasks) == len(rows)
    rows = db.execute(
        "SELECT id::text AS id, lower(title) AS lower FROM tasks WHERE user_id = %s",
        (api.user_id,),
    ).fetchall()
    lowered = {r["id"]: r["lower"] for r in rows}
    for task in api.tasks:
        task["title_lower"] = lowered[task["id"]]
    return api


@pytest.mark.parametrize("sort", SORTS)
def test_one_page_is_in_the_sort_order(varied, sort):
    listed = varied.app.get(varied.base, {"sort": sort}).json
    assert ids(listed) == ids(expected_order(varied.tasks, sort))


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", ["1", "5"])
def test_pages_walk_the_sort_order_exactly_once(varied, sort, limit):
    pages = walk(varied.app, varied.base, {"sort": sort, "limit": limit})
    assert all(len(page) == int(limit) for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= int(limit)
    walked = [task for page in pages for task in page]
    assert ids(walked) == ids(expected_order(varied.tasks, sort))


def test_titles_compare_by_code_point_of_the_lower_case(varied):
    listed = varied.app.get(varied.base, {"sort": "title"}).json
    lowered = [t["title_lower"] for t in expected_order(varied.tasks, "title")]
    assert [t["title"].lower() for t in listed] == [v.lower() for v in lowered]
    assert lowered == sorted(lowered)
    titles = [t["title"] for t in listed]
    # Code point order, not a natural or locale order: "10" < "9" < "_" < letters < "~".
    assert titles[:3] == ["10 items", "9 items", "_under"]
    assert titles.index("zebra") < titles.index("~tilde") < titles.index("éclair")


def test_equal_keys_break_ties_on_id_in_the_sort_direction(varied):
    same_created = [t for t in varied.tasks if t["created_at"] == "2026-01-01T00:00:00.000000Z"]
    assert len(same_created) == 3
    tie_ids = sorted(t["id"] for t in same_created)
    asc = ids(varied.app.get(varied.base, {"sort": "created_at"}).json)
    desc = ids(varied.app.get(varied.base, {"sort": "-created_at"}).json)
    assert asc[:3] == tie_ids
    assert desc[-3:] == list(reversed(tie_ids))


@pytest.mark.parametrize("key", ["due_at", "order"])
def test_tasks_without_the_key_come_last_in_both_directions(varied, key):
    for sort in (key, f"-{key}"):
        listed = varied.app.get(varied.base, {"sort": sort}).json
        values = [t[key] for t in listed]
        missing = values.count(None)
        assert missing >= 3
        assert values[-missing:] == [None] * missing
        assert None not in values[:-missing]


def test_priority_ranks_low_normal_high(varied):
    asc = [t["priority"] for t in varied.app.get(varied.base, {"sort": "priority"}).json]
    desc = [t["priority"] for t in varied.app.get(varied.base, {"sort": "-priority"}).json]
    rank = {"low": 0, "normal": 1, "high": 2}
    assert asc == sorted(asc, key=rank.get) and asc[0] == "low"
    assert desc == sorted(desc, key=rank.get, reverse=True) and desc[0] == "high"


def test_default_sort_is_created_at_ascending(varied):
    assert (
        varied.app.get(varied.base).json == varied.app.get(varied.base, {"sort": "created_at"}).json
    )


def test_link_header_only_when_more_tasks_match(api):
    for i in range(3):
        api.created(title=f"t{i}")
    assert "Link" not in api.app.get(api.base, {"limit": "3"}).headers
    assert "Link" not in api.app.get(api.base, {"limit": "4"}).headers
    first = api.app.get(api.base, {"limit": "2"})
    assert next_url(first) is not None
    last = api.app.get(relative(next_url(first)))
    assert len(last.json) == 1 and "Link" not in last.headers


def test_link_is_absolute_and_keeps_the_query(api):
    for i in range(3):
        api.created(title=f"t {i}", tags=["a", "b"])
    resp = api.app.get(f"{api.base}?limit=1&sort=-title&tag=a&tag=b&q=t%20&status=pending")
    url = next_url(resp)
    assert url.startswith(f"http://tasks.test/api/{api.user_id}/tasks?")
    assert "tag=a&tag=b" in url and "limit=1" in url and "sort=-title" in url
    assert "status=pending" in url and "q=t%20" in url
    second = api.app.get(relative(url))
    assert [t["title"] for t in second.json] == ["t 1"]


def test_link_honours_the_requests_scheme_and_host(api):
    for i in range(2):
        api.created(title=f"t{i}")
    resp = api.app.get(
        api.base,
        {"limit": "1"},
        extra_environ={"HTTP_HOST": "api.example:8443", "wsgi.url_scheme": "https"},
    )
    assert next_url(resp).startswith(f"https://api.example:8443/api/{api.user_id}/tasks?")


def test_link_escapes_a_user_id_that_needs_it(app):
    from tests.conftest import Api

    api = Api(app, "pipe|user@example.com")
    api.app.delete(api.base)
    for i in range(2):
        api.created(title=f"t{i}")
    url = next_url(api.app.get(api.base, {"limit": "1"}))
    assert url.startswith("http://tasks.test/api/pipe%7Cuser@example.com/tasks?")
    assert len(api.app.get(relative(url)).json) == 1


def test_pages_cost_no_offset_after_deletions(api):
    created = [api.created(title=f"t{i}")["id"] for i in range(6)]
    first = api.app.get(api.base, {"limit": "2"})
    assert ids(first.json) == created[:2]
    # Remove the last task served and the next one: the walk goes on after the cursor.
    api.app.delete(api.item(created[1]))
    api.app.delete(api.item(created[2]))
    rest = walk(api.app, relative(next_url(first)))
    assert ids([t for page in rest for t in page]) == created[3:]
