"""A 422 says what to send instead, in the client's terms; timestamps are RFC 3339 only."""

from __future__ import annotations

import pytest


def errors_of(resp) -> list[tuple[str, str, str]]:
    assert resp.status_int == 422
    assert resp.content_type == "application/problem+json"
    return [(e["location"], e["field"], e["message"]) for e in resp.json["errors"]]


def test_a_due_at_without_offset_asks_for_one(api):
    resp = api.create(status=422, due_at="2026-01-24T10:00:00")
    assert errors_of(resp) == [
        ("body", "due_at", "due_at needs a UTC offset, e.g. 2026-01-24T10:00:00Z.")
    ]


@pytest.mark.parametrize("field", ["due_before", "due_after"])
def test_a_naive_filter_timestamp_asks_for_an_offset(api, field):
    resp = api.app.get(api.base, {field: "2026-01-24T10:00:00"}, status=422)
    assert errors_of(resp) == [
        ("query", field, f"{field} needs a UTC offset, e.g. 2026-01-24T10:00:00Z.")
    ]


@pytest.mark.parametrize("field", ["due_before", "due_after"])
def test_a_raw_plus_in_a_filter_hints_at_percent_2b(api, field):
    # A "+" written as is in a query string means a space: the offset arrives as " 01:00".
    resp = api.app.get(f"{api.base}?{field}=2026-01-24T10:00:00+01:00", status=422)
    [(location, name, message)] = errors_of(resp)
    assert (location, name) == ("query", field)
    assert "%2B" in message and "space" in message


def test_the_same_filter_with_percent_2b_works(api):
    api.created(title="later", due_at="2026-01-24T10:00:00Z")
    resp = api.app.get(f"{api.base}?due_after=2026-01-24T10:00:00%2B01:00")
    assert [t["title"] for t in resp.json] == ["later"]


@pytest.mark.parametrize(
    "value",
    [
        "2026-W04-6T10:00:00Z",  # ISO 8601 week date
        "2026-024T10:00:00Z",  # ordinal date
        "20260124T100000Z",  # compact form
        "2026-01-24T10:00:00+01:00:30",  # offset with seconds
        "2026-01-24T10:00:00+0100",  # offset without colon
        "2026-01-24T10:00Z",  # no seconds
        "2026-01-24 10:00:00Z",  # space instead of T
        "2026-01-24T10:00:00.Z",  # a dot without digits
        "2026-02-30T10:00:00Z",  # no such day
        "2026-01-24T24:00:00Z",  # no such hour
        "+2026-01-24T10:00:00Z",
        "٢٠٢٦-01-24T10:00:00Z",  # non-ASCII digits
    ],
)
def test_due_at_takes_rfc_3339_only(api, value):
    resp = api.create(status=422, due_at=value)
    assert errors_of(resp) == [
        (
            "body",
            "due_at",
            "due_at must be an RFC 3339 timestamp with an offset, e.g. 2026-01-24T10:00:00Z.",
        )
    ]


@pytest.mark.parametrize(
    "value", ["2026-01-24T10:00:00.1234567Z", "2026-01-24T10:00:00.123456789+02:00"]
)
def test_more_than_microseconds_is_refused_not_truncated(api, value):
    [(_, field, message)] = errors_of(api.create(status=422, due_at=value))
    assert field == "due_at"
    assert "at most 6 fractional digits" in message


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2026-01-24T10:00:00Z", "2026-01-24T10:00:00.000000Z"),
        ("2026-01-24t10:00:00.5z", "2026-01-24T10:00:00.500000Z"),  # RFC 3339 allows lower case
        ("2026-01-24T10:00:00.123456+01:00", "2026-01-24T09:00:00.123456Z"),
        ("2026-01-24T10:00:00-00:00", "2026-01-24T10:00:00.000000Z"),
        ("2026-01-24T10:00:00.1-05:30", "2026-01-24T15:30:00.100000Z"),
    ],
)
def test_rfc_3339_forms_are_accepted(api, value, stored):
    assert api.created(due_at=value)["due_at"] == stored


def test_a_title_of_spaces_is_empty_after_trimming(api):
    assert errors_of(api.create(status=422, title="   ")) == [
        ("body", "title", "Must not be empty; it is empty after trimming spaces.")
    ]


def test_a_long_title_says_the_limit(api):
    assert errors_of(api.create(status=422, title="x" * 201)) == [
        ("body", "title", "Must be at most 200 characters after trimming spaces.")
    ]


def test_an_empty_tag_says_so(api):
    [(_, field, message)] = errors_of(api.create(status=422, tags=["ok", "  "]))
    assert field == "tags.1"
    assert message == "Must not be empty; it is empty after trimming spaces."


def test_a_whole_body_error_has_an_empty_field(api, user_id):
    task = api.created()
    resp = api.app.patch_json(api.item(task["id"]), {}, status=422)
    assert errors_of(resp) == [("body", "", "No fields to update.")]
