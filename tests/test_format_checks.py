"""The format checks (migrations 0015 and 0016): the same rule as the bounded-repeat regexes
they replaced, at a fraction of the cost, on every table that has one."""

from __future__ import annotations

import contextlib

import psycopg
import pytest

from service.server import migrate

USER_TABLES = [
    "tasks",
    "lists",
    "user_settings",
    "webhooks",
    "task_completions",
    "change_counters",
    "idempotency_keys",
]
ALLOWED = "Az09._~@|:+-"


def checks(conn: psycopg.Connection) -> dict[str, tuple[str, bool]]:
    rows = conn.cursor(row_factory=psycopg.rows.tuple_row).execute(
        "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint"
        " WHERE contype = 'c' AND conname LIKE '%_format'"
    )
    return {name: (definition, valid) for name, definition, valid in rows}


@pytest.mark.parametrize(
    ("user_id", "allowed"),
    [
        ("a", True),
        (ALLOWED, True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("has space", False),
        ("slash/", False),
        ("é", False),
        ("new\nline", False),
    ],
)
def test_a_user_id_passes_the_new_check_exactly_when_it_passed_the_old_one(
    db: psycopg.Connection, user_id: str, allowed: bool
) -> None:
    old = db.execute("SELECT %s ~ '^[A-Za-z0-9._~@|:+-]{1,128}$' AS ok", (user_id,)).fetchone()
    definition, _ = checks(db)["tasks_user_id_format"]
    assert "{1,128}" not in definition  # the bounded repeat is gone
    new = db.execute(
        "SELECT %(u)s ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(%(u)s) <= 128 AS ok",
        {"u": user_id},
    ).fetchone()
    assert old == new == {"ok": allowed}
    refused = pytest.raises(psycopg.errors.CheckViolation)
    with refused if not allowed else contextlib.nullcontext():
        with db.transaction(force_rollback=True):
            db.execute("INSERT INTO change_counters (user_id, seq) VALUES (%s, 1)", (user_id,))


def test_every_user_table_has_a_validated_format_check_without_bounded_repeats(
    db: psycopg.Connection,
) -> None:
    found = checks(db)
    for table in USER_TABLES:
        definition, valid = found[f"{table}_user_id_format"]
        assert valid, table
        assert "char_length(user_id) <= 128" in definition, definition
    definition, valid = found["idempotency_keys_key_format"]
    assert valid and "char_length(key) <= 255" in definition, definition


def test_the_format_migrations_roll_back_to_the_old_checks_and_apply_again(scratch) -> None:
    url = scratch.create()
    migrate.apply(url)
    applied, _ = migrate.status(url)
    newer = applied[applied.index("0015.cheap-format-checks") :]
    assert migrate.rollback(url, count=len(newer)) == list(reversed(newer))
    with psycopg.connect(url) as conn:
        definition, valid = checks(conn)["tasks_user_id_format"]
        assert "{1,128}" in definition and valid
    migrate.apply(url)
    with psycopg.connect(url) as conn:
        definition, valid = checks(conn)["tasks_user_id_format"]
        assert "{1,128}" not in definition and valid
