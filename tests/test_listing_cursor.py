"""The listing cursor: opaque, signed, bound to its user, sort and filters; bad ones are 422."""

from __future__ import annotations

import base64
import functools
import json
import logging
import threading
import uuid

import orjson
import pytest

from service.api.listing import CursorCodec
from service.core.config import ConfigError
from service.data.listing import Filters, PageRequest, Position, Sort
from service.data.service_keys import ServiceKeys
from tests.conftest import make_config
from tests.listing_model import cursor_of, next_url, relative


def assert_bad_cursor(resp) -> None:
    assert resp.status_int == 422
    assert resp.content_type == "application/problem+json"
    assert [(e["location"], e["field"]) for e in resp.json["errors"]] == [("query", "cursor")]


@pytest.fixture
def paged(api):
    """A user with five tasks and the next-page URL after the first two."""
    for i in range(5):
        api.created(title=f"task {i}", tags=["t"], priority="high")
    api.next = next_url(api.app.get(api.base, {"limit": "2"}))
    api.cursor = cursor_of(api.next)
    return api


def stored_key(runtime):
    """The loader the service uses when CURSOR_SECRET is unset: the key kept in the database."""
    return functools.partial(ServiceKeys(runtime.pool, runtime.queries).get, "cursor")


def service_codec(runtime) -> CursorCodec:
    """A codec with the running service's key."""
    return CursorCodec.from_config(runtime.config, stored_key(runtime))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_cursor_continues_with_another_limit(paged):
    resp = paged.app.get(paged.base, {"cursor": paged.cursor, "limit": "10"})
    assert [t["title"] for t in resp.json] == ["task 2", "task 3", "task 4"]


@pytest.mark.parametrize(
    "changed",
    [
        {"sort": "-created_at"},
        {"sort": "title"},
        {"status": "pending"},
        {"priority": "high"},
        {"tag": "t"},
        {"q": "task"},
        {"due_before": "2030-01-01T00:00:00Z"},
        {"due_after": "2020-01-01T00:00:00Z"},
    ],
)
def test_cursor_with_another_sort_or_filters_is_422(paged, changed):
    resp = paged.app.get(paged.base, {"limit": "2", "cursor": paged.cursor, **changed}, status=422)
    assert_bad_cursor(resp)


def test_cursor_keeps_working_with_equivalent_filters(api):
    for i in range(3):
        api.created(title=f"x{i}", tags=["a", "b"], due_at="2029-01-01T00:00:00Z")
    first = api.app.get(f"{api.base}?limit=1&tag=a&tag=b&due_before=2030-01-01T01:00:00%2B01:00")
    cursor = cursor_of(next_url(first))
    # Same tags in another order and spelling, same instant with another offset.
    resp = api.app.get(
        f"{api.base}?limit=1&tag=B&tag=a&due_before=2030-01-01T00:00:00Z&cursor={cursor}"
    )
    assert [t["title"] for t in resp.json] == ["x1"]


def test_another_users_cursor_is_422_and_shows_nothing(paged, other_api):
    other_api.created(title="theirs")
    resp = other_api.app.get(other_api.base, {"limit": "2", "cursor": paged.cursor}, status=422)
    assert_bad_cursor(resp)
    assert "task" not in resp.text


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "abc.def",
        "a.b.c",
        ".",
        "e30.",
        "not base64!.AAAA",
        "é.é",
        "A" * 5000,
        "%00",
    ],
)
def test_garbage_cursor_is_422(paged, token):
    assert_bad_cursor(paged.app.get(paged.base, {"cursor": token, "limit": "2"}, status=422))


def test_every_single_character_edit_is_422(paged):
    cursor = paged.cursor
    alphabet = "AQgw-_9z"
    for position in range(len(cursor)):
        if cursor[position] == ".":
            continue
        replacement = next(c for c in alphabet if c != cursor[position])
        edited = cursor[:position] + replacement + cursor[position + 1 :]
        resp = paged.app.get(paged.base, {"cursor": edited, "limit": "2"}, status=422)
        assert_bad_cursor(resp)


def test_edited_payload_with_the_old_signature_is_422(paged):
    payload, mac = paged.cursor.split(".")
    data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["i"] = str(uuid.UUID(int=0))
    forged = f"{b64(orjson.dumps(data))}.{mac}"
    assert_bad_cursor(paged.app.get(paged.base, {"cursor": forged, "limit": "2"}, status=422))


def test_cursor_signed_with_another_key_is_422(paged):
    forger = CursorCodec(b"not the service's key")
    request = PageRequest(sort=Sort.parse("created_at"), filters=Filters(), limit=2)
    forged = forger.encode(paged.user_id, request, Position(key=None, id=uuid.uuid4()))
    assert_bad_cursor(paged.app.get(paged.base, {"cursor": forged, "limit": "2"}, status=422))


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("created_at", None),
        ("created_at", "yesterday"),
        ("created_at", "2026-01-01T00:00:00"),
        ("created_at", 12),
        ("due_at", "2026-13-01T00:00:00Z"),
        ("priority", "urgent"),
        ("priority", None),
        ("title", 5),
        ("title", None),
        ("order", "5"),
        ("order", True),
        ("order", 2**31),
        ("order", 1.5),
    ],
)
def test_signed_cursor_with_a_wrongly_typed_key_is_422(runtime, paged, sort, key):
    # Only the service can sign; this guards against its own format changes, not a 500.
    codec = service_codec(runtime)
    request = PageRequest(sort=Sort.parse(sort), filters=Filters(), limit=2)
    token = codec.encode(paged.user_id, request, Position(key=key, id=uuid.uuid4()))
    resp = paged.app.get(paged.base, {"cursor": token, "sort": sort}, status=422)
    assert_bad_cursor(resp)


def test_signed_cursor_with_a_bad_id_or_version_is_422(runtime, paged):
    codec = service_codec(runtime)
    fingerprint = Filters().fingerprint()
    for data in (
        {"v": 1, "s": "created_at", "f": fingerprint, "k": None, "i": "not-a-uuid"},
        {"v": 1, "s": "created_at", "f": fingerprint, "k": None},
        {"v": 2, "s": "created_at", "f": fingerprint, "k": None, "i": str(uuid.uuid4())},
        ["v", 1],
    ):
        payload = orjson.dumps(data)
        token = f"{b64(payload)}.{b64(codec._mac(paged.user_id, payload))}"
        assert_bad_cursor(paged.app.get(paged.base, {"cursor": token}, status=422))


def test_codecs_with_the_same_settings_agree(runtime, database_url):
    """Every gunicorn worker builds its own codec; their cursors must be interchangeable."""
    request = PageRequest(sort=Sort.parse("-title"), filters=Filters(tags=("a",)), limit=5)
    position = Position(key="abc", id=uuid.uuid4())
    for settings in ({}, {"CURSOR_SECRET": "s" * 32}):
        first = CursorCodec.from_config(make_config(database_url, **settings), stored_key(runtime))
        second = CursorCodec.from_config(make_config(database_url, **settings), stored_key(runtime))
        token = first.encode("u", request, position)
        assert second.decode("u", token, request.sort, request.filters) == position


def test_a_new_secret_invalidates_old_cursors(runtime, database_url):
    request = PageRequest(sort=Sort.parse("created_at"), filters=Filters(), limit=5)
    position = Position(key=None, id=uuid.uuid4())
    old = CursorCodec.from_config(
        make_config(database_url, CURSOR_SECRET="a" * 20), stored_key(runtime)
    )
    new = CursorCodec.from_config(
        make_config(database_url, CURSOR_SECRET="b" * 20), stored_key(runtime)
    )
    default = CursorCodec.from_config(make_config(database_url), stored_key(runtime))
    token = old.encode("u", request, position)
    for codec in (new, default):
        with pytest.raises(ValueError):
            codec.decode("u", token, request.sort, request.filters)


def test_without_a_secret_the_key_is_random_and_kept_in_the_database(runtime, database_url):
    codec = CursorCodec.from_config(make_config(database_url), stored_key(runtime))
    with runtime.pool.connection() as conn:
        row = conn.execute("SELECT secret FROM service_keys WHERE name = 'cursor'").fetchone()
    # Possibly created by this very call: whichever process asks first creates it.
    assert codec.key == bytes(row["secret"])
    assert len(codec.key) == 32
    # Nothing a setting holds derives it: not the old key derived from DATABASE_URL.
    import hashlib
    import hmac

    from_url = hmac.new(b"tasks-cursor-default-key", database_url.encode(), hashlib.sha256)
    assert codec.key != from_url.digest()


def test_the_first_callers_agree_on_one_stored_key(runtime):
    """Workers starting together race to create the key: every one of them gets the same."""
    name = f"race_{uuid.uuid4().hex[:12]}"
    got: list[bytes] = []
    start = threading.Barrier(6)

    def ask() -> None:
        keys = ServiceKeys(runtime.pool, runtime.queries)
        start.wait()
        got.append(keys.get(name))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert len(got) == 6 and len(set(got)) == 1
    finally:
        with runtime.pool.connection() as conn:
            conn.execute("DELETE FROM service_keys WHERE name = %s", (name,))


def test_no_warning_about_the_cursor_key_without_a_secret(runtime, database_url, caplog):
    with caplog.at_level(logging.WARNING, logger="service.api.listing"):
        CursorCodec.from_config(make_config(database_url), stored_key(runtime))
    assert "CURSOR_SECRET" not in caplog.text


@pytest.mark.parametrize("title", ["a\x00b", "\x00", "x" * 801, "\ud800"])
def test_a_signed_cursor_whose_title_the_database_cannot_hold_is_422(runtime, paged, title):
    """A forged cursor (say, with a leaked key) carrying a NUL must not reach PostgreSQL."""
    codec = service_codec(runtime)
    data = {"v": 1, "s": "title", "f": Filters().fingerprint(), "k": title, "i": str(uuid.uuid4())}
    payload = json.dumps(data).encode()  # escapes a lone surrogate, which orjson refuses
    token = f"{b64(payload)}.{b64(codec._mac(paged.user_id, payload))}"
    resp = paged.app.get(paged.base, {"cursor": token, "sort": "title"}, status=422)
    assert_bad_cursor(resp)


def test_short_secret_is_a_config_error(database_url):
    with pytest.raises(ConfigError, match="CURSOR_SECRET"):
        make_config(database_url, CURSOR_SECRET="short")


def test_secret_stays_out_of_the_config_repr(database_url):
    assert "topsecretvalue123" not in repr(
        make_config(database_url, CURSOR_SECRET="topsecretvalue123")
    )


def test_following_the_link_twice_gives_the_same_page(paged):
    first = paged.app.get(relative(paged.next)).json
    assert paged.app.get(relative(paged.next)).json == first
