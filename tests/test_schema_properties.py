"""Property-based tests of the marshmallow schemas: any JSON is either valid or a clean error.

Whatever a client sends, loading either yields data that keeps every rule of the contract
or raises marshmallow's ValidationError (a 422); never any other exception (a 500).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from service.api.schemas import (
    INT32_MAX,
    INT32_MIN,
    PRIORITIES,
    completion_schema,
    list_query_schema,
    task_create_schema,
    task_update_schema,
)

PROPERTIES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
FIELDS = ["title", "description", "completed", "priority", "due_at", "tags", "order", "id"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["2026-01-24T10:00:00+01:00", "2026-01-24T10:00:00", "low", "high", ""])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
task_like = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=8)


def check_task_invariants(data: dict) -> None:
    if "title" in data:
        assert 1 <= len(data["title"]) <= 200
        assert data["title"] == data["title"].strip() and not CONTROL.search(data["title"])
    if data.get("description") is not None:
        assert len(data["description"]) <= 1000
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", data["description"])
    if "completed" in data:
        assert isinstance(data["completed"], bool)
    if "priority" in data:
        assert data["priority"] in PRIORITIES
    if data.get("due_at") is not None:
        assert data["due_at"].utcoffset() == timedelta(0)
    if "tags" in data:
        tags = data["tags"]
        assert len(tags) <= 20 and tags == sorted(set(tags))
        for tag in tags:
            assert 1 <= len(tag) <= 32 and tag == tag.lower() and not re.search(r"\s", tag)
            assert not CONTROL.search(tag)
    if data.get("order") is not None:
        assert type(data["order"]) is int and INT32_MIN <= data["order"] <= INT32_MAX
    assert "id" not in data  # read-only fields are dropped


@PROPERTIES
@given(task_like)
def test_any_create_body_loads_within_the_rules_or_fails_validation(body):
    try:
        data = task_create_schema.load(body)
    except ValidationError:
        return
    assert "title" in data
    check_task_invariants(data)


@PROPERTIES
@given(task_like)
def test_any_update_body_loads_within_the_rules_or_fails_validation(body):
    try:
        data = task_update_schema.load(body)
    except ValidationError:
        return
    assert data, "an update names at least one field"
    check_task_invariants(data)


@PROPERTIES
@given(
    title=st.text(min_size=1, max_size=200).filter(lambda t: t.strip() and not CONTROL.search(t)),
    tags=st.lists(
        st.text(min_size=1, max_size=32).filter(
            lambda t: not re.search(r"\s", t) and not CONTROL.search(t)
        ),
        max_size=20,
    ),
    order=st.none() | st.integers(min_value=INT32_MIN, max_value=INT32_MAX),
    due=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 1, 1)),
    offset=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_valid_tasks_load_normalised(title, tags, order, due, offset):
    moment = due.replace(tzinfo=timezone(timedelta(minutes=offset)))
    body = {"title": title, "tags": tags, "order": order, "due_at": moment.isoformat()}
    try:
        data = task_create_schema.load(body)
    except ValidationError as error:
        # Lower-casing may lengthen a tag past 32 characters (e.g. 'İ' becomes two).
        assert set(error.messages) == {"tags"}
        return
    assert data["title"] == title.strip()
    assert data["order"] == order
    assert data["due_at"] == moment.astimezone(UTC)
    assert data["tags"] == sorted({t.strip().lower() for t in tags})
    check_task_invariants(data)


@PROPERTIES
@given(json_values)
def test_completion_body_is_a_boolean_or_fails_validation(value):
    try:
        data = completion_schema.load({"completed": value})
    except ValidationError:
        assert not isinstance(value, bool)
        return
    assert data == {"completed": value} and isinstance(value, bool)


@PROPERTIES
@given(st.text(max_size=30))
def test_any_limit_text_is_an_integer_in_range_or_fails_validation(raw):
    try:
        data = list_query_schema.load({"limit": raw})
    except ValidationError:
        return
    assert 1 <= data["limit"] <= 500 and data["limit"] == int(raw)
