"""The cheaper checks (migrations 0015 and 0016): the same rules as the constraints they
replaced, at a fraction of the cost: tasks' 18 CHECK constraints became one calling
tasks_row_check(), which still names the rule broken, and the user id formats lost their
bounded regex repeats."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from service.data.recurrence import violated_constraint
from service.server import migrate

USER_TABLES = [
    "lists",
    "user_settings",
    "webhooks",
    "task_completions",
    "change_counters",
    "idempotency_keys",
]
ALLOWED = "Az09._~@|:+-"
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
SELF = "00000000-0000-4000-8000-0000000000aa"


def row_rules(conn: psycopg.Connection) -> str:
    """The text of the function that holds tasks' rules."""
    row = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'tasks_row_violation'")
    return row.fetchone()["prosrc"]


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
    assert "{1,128}" not in row_rules(db)
    old = db.execute("SELECT %s ~ '^[A-Za-z0-9._~@|:+-]{1,128}$' AS ok", (user_id,)).fetchone()
    new = db.execute(
        "SELECT %(u)s ~ '^[A-Za-z0-9._~@|:+-]+$' AND char_length(%(u)s) <= 128 AS ok",
        {"u": user_id},
    ).fetchone()
    assert old == new == {"ok": allowed}
    refused = pytest.raises(psycopg.errors.CheckViolation)
    with refused if not allowed else contextlib.nullcontext():
        with db.transaction(force_rollback=True):
            db.execute("INSERT INTO change_counters (user_id, seq) VALUES (%s, 1)", (user_id,))
    with refused if not allowed else contextlib.nullcontext():
        with db.transaction(force_rollback=True):
            db.execute("INSERT INTO tasks (user_id, title) VALUES (%s, 't')", (user_id,))


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
    newer = applied[applied.index("0015.cheaper-checks") :]
    assert migrate.rollback(url, count=len(newer)) == list(reversed(newer))
    with psycopg.connect(url) as conn:
        found = checks(conn)
        definition, valid = found["tasks_user_id_format"]
        assert "{1,128}" in definition and valid
        assert {f"tasks_{rule}" for rule, _ in BROKEN} <= {
            name
            for (name,) in conn.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'tasks'::regclass"
            )
        }
    migrate.apply(url)
    with psycopg.connect(url) as conn:
        found = checks(conn)
        assert "tasks_user_id_format" not in found
        definition, valid = found["lists_user_id_format"]
        assert "{1,128}" not in definition and valid


# (the rule, a task breaking it and only it): one case per CHECK constraint tasks had.
BROKEN = [
    ("completed_at_set", {"completed": True}),
    ("completion_id_completed", {"completion_id": "00000000-0000-4000-8000-000000000001"}),
    ("description_length", {"description": "x" * 1001}),
    ("due_date_start_set", {"due_date": "2026-12-24"}),
    ("due_one_form", {"due_at": NOW, "due_date": "2026-12-24", "due_date_start": NOW}),
    ("parent_not_self", {"id": SELF, "parent_id": SELF}),
    (
        "recurrence_basis_known",
        {"recurrence_rule": "FREQ=DAILY", "recurrence_basis": "x", "due_at": NOW},
    ),
    ("recurrence_index_range", {"recurrence_index": -1}),
    ("recurrence_needs_due", {"recurrence_rule": "FREQ=DAILY", "recurrence_basis": "due"}),
    ("recurrence_rule_length", {"recurrence_rule": "", "recurrence_basis": "due", "due_at": NOW}),
    ("recurrence_together", {"recurrence_rule": "FREQ=DAILY", "due_at": NOW}),
    ("reminder_count_range", {"reminder_count": -1}),
    ("tags_count", {"tags": [f"t{n}" for n in range(21)]}),
    ("time_zone_length", {"time_zone": ""}),
    ("title_length", {"title": ""}),
    ("trash_together", {"deleted_at": NOW}),
    ("user_id_format", {"user_id": "has space"}),
    ("version_positive", {"version": 0}),
]


def insert_task(db: psycopg.Connection, owner: str, **columns: object) -> None:
    values = {"user_id": owner, "title": "a task", **columns}
    names = sql.SQL(", ").join(sql.Identifier(name) for name in values)
    params = sql.SQL(", ").join(sql.Placeholder(name) for name in values)
    db.execute(sql.SQL("INSERT INTO tasks ({}) VALUES ({})").format(names, params), values)


@pytest.mark.parametrize(("rule", "columns"), BROKEN, ids=[rule for rule, _ in BROKEN])
def test_a_task_breaking_a_rule_is_refused_naming_that_rule(
    db: psycopg.Connection, user_id: str, rule: str, columns: dict
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as caught, db.transaction():
        insert_task(db, user_id, **columns)
    assert violated_constraint(caught.value) == f"tasks_{rule}"
    assert caught.value.diag.table_name == "tasks"
    assert f'violates check constraint "tasks_{rule}"' in str(caught.value)


def test_a_task_breaking_two_rules_names_the_first_by_name_as_postgresql_did(
    db: psycopg.Connection, user_id: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as caught, db.transaction():
        insert_task(db, user_id, title="", version=0, reminder_count=-1)
    assert violated_constraint(caught.value) == "tasks_reminder_count_range"


def test_an_update_breaking_a_rule_is_refused_and_changes_nothing(
    db: psycopg.Connection, user_id: str
) -> None:
    insert_task(db, user_id, title="kept")
    with pytest.raises(psycopg.errors.CheckViolation) as caught, db.transaction():
        db.execute("UPDATE tasks SET title = '' WHERE user_id = %s", (user_id,))
    assert violated_constraint(caught.value) == "tasks_title_length"
    assert db.execute("SELECT title FROM tasks WHERE user_id = %s", (user_id,)).fetchone() == {
        "title": "kept"
    }


def test_a_task_breaking_no_rule_is_stored(db: psycopg.Connection, user_id: str) -> None:
    insert_task(
        db,
        user_id,
        description="x" * 1000,
        tags=[f"t{n}" for n in range(20)],
        time_zone="Europe/Paris",
        due_date="2026-12-24",
        due_date_start=NOW,
        recurrence_rule="FREQ=WEEKLY",
        recurrence_basis="completion",
    )
