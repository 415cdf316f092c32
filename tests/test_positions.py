"""Position keys: the Python creation key equals migration 0004's SQL one; keys order bytewise."""

from __future__ import annotations

import uuid
from itertools import pairwise

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.positions import PositionError, creation_key, is_valid, key_between


def test_creation_key_matches_the_sql_default(database_url):
    salt = uuid.uuid4()
    micros = 1_764_800_000_123_456
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT task_position_key(%s, %s)", (micros, salt)).fetchone()
    assert row[0] == creation_key(micros, salt.hex)
    assert is_valid(row[0])


@given(st.integers(0, 62**9 - 2), st.integers(1, 10**9))
def test_later_creations_sort_later_bytewise(micros, delta):
    earlier = creation_key(micros, "ffffffff")
    later = creation_key(min(micros + delta, 62**9 - 1), "00000000")
    assert earlier.encode() < later.encode()


def test_key_between_refuses_neighbours_out_of_order():
    key = creation_key()
    with pytest.raises(PositionError):
        key_between(key, key)
    with pytest.raises(PositionError):
        key_between(creation_key(10, "00000000"), creation_key(5, "00000000"))


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 1000)), max_size=60))
def test_keys_between_neighbours_stay_strictly_between(steps):
    keys = [creation_key(1_000, "abcdef01")]
    for before_first, index in steps:
        if before_first:
            new = key_between(None, keys[0])
            keys.insert(0, new)
        else:
            i = index % len(keys)
            after = keys[i + 1] if i + 1 < len(keys) else None
            keys.insert(i + 1, key_between(keys[i], after))
        assert all(a.encode() < b.encode() for a, b in pairwise(keys))
        assert all(is_valid(k) for k in keys)
