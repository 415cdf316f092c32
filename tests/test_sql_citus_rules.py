"""Every statement in sql/ and every foreign key in migrations/ is one a Citus cluster takes.

No Citus needed: tests/citus_rules.py parses the SQL and asks the migrated test database for
function volatility. The same suite passes on a real cluster (docs/scaling.md).
"""

from __future__ import annotations

from types import SimpleNamespace

import psycopg
import pytest

from service.core.config import MIGRATIONS_DIR, SQL_DIR
from service.data.recurrence import violated_constraint
from service.server.distribute import LOCAL_TABLES, REFERENCE_TABLES
from tests.citus_rules import Catalog, check_foreign_keys, check_sql_dir, check_statement


@pytest.fixture(scope="module")
def catalog(database_url: str) -> Catalog:
    with psycopg.connect(database_url) as conn:
        return Catalog.load(conn, local=LOCAL_TABLES, reference=REFERENCE_TABLES)


def test_the_catalog_sees_the_schema(catalog):
    assert {"tasks", "idempotency_keys"} <= catalog.distributed
    assert catalog.volatility_of("now") == "s"
    assert catalog.volatility_of("to_char") == "s"
    assert catalog.volatility_of("clock_timestamp") == "v"
    assert catalog.volatility_of("utc_text") == "i"
    # AT TIME ZONE over a timestamptz column is IMMUTABLE; over a timetz it is not.
    assert catalog.volatility_of("timezone", [None, "timestamptz"]) == "i"
    assert catalog.volatility_of("timezone", [None, "timetz"]) != "i"
    assert catalog.volatility_of("completion_time") == "i"
    assert catalog.primary_keys["tasks"] == ["user_id", "id"]


def test_every_statement_in_sql_is_routable_on_citus(catalog):
    violations = check_sql_dir(SQL_DIR, catalog)
    assert not violations, "\n".join(map(str, violations))


def test_every_foreign_key_in_migrations_keeps_user_id(catalog):
    violations = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        violations += check_foreign_keys(path.read_text(encoding="utf-8"), catalog, path.name)
    assert not violations, "\n".join(map(str, violations))


def test_every_distributed_table_keys_lead_with_user_id(db, catalog):
    # Citus needs the distribution column in every primary key and unique index.
    rows = db.execute(
        "SELECT c.relname, i.indexrelid::regclass::text, a.attname"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]"
        " WHERE n.nspname = 'public' AND i.indisunique"
    ).fetchall()
    wrong = [
        (t, index) for t, index, first in rows if t in catalog.distributed and first != "user_id"
    ]
    assert not wrong, f"unique keys that do not lead with user_id: {wrong}"


# The checker itself: each rule catches what it is for, and lets the fixed form through.

TOGGLE_TO_CHAR = """
UPDATE tasks SET completed = NOT completed
WHERE user_id = %(user_id)s AND id = %(task_id)s
RETURNING id::text AS id, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY') AS updated_at
"""


def rules(text: str, catalog: Catalog, jobs: bool = False) -> list[str]:
    return [v.rule for v in check_statement(text, catalog, jobs=jobs)]


def test_a_non_immutable_returning_fails_the_check(catalog):
    assert rules(TOGGLE_TO_CHAR, catalog) == ["returning"]
    fixed = TOGGLE_TO_CHAR.replace(
        "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY')", "utc_text(updated_at)"
    )
    assert rules(fixed, catalog) == []


@pytest.mark.parametrize(
    "returning",
    ["now() AS at", "current_timestamp AS at", "clock_timestamp() AS at", "random() AS r"],
)
def test_returning_catches_stable_volatile_and_sql_value_functions(catalog, returning):
    text = f"DELETE FROM tasks WHERE user_id = %(user_id)s RETURNING {returning}"
    assert rules(text, catalog) == ["returning"]


def test_returning_inside_a_cte_is_checked_too(catalog):
    text = (
        "WITH t AS (UPDATE tasks SET title = %(title)s WHERE user_id = %(user_id)s"
        " RETURNING to_char(updated_at, 'YYYY') AS u) SELECT u FROM t"
    )
    assert rules(text, catalog) == ["returning"]


def test_now_inside_case_of_an_update_fails_and_completion_time_passes(catalog):
    bad = (
        "UPDATE tasks SET completed_at = CASE WHEN completed THEN NULL ELSE now() END"
        " WHERE user_id = %(user_id)s AND id = %(task_id)s"
    )
    assert rules(bad, catalog) == ["case"]
    coalesced = bad.replace(
        "CASE WHEN completed THEN NULL ELSE now() END", "coalesce(completed_at, now())"
    )
    assert rules(coalesced, catalog) == ["case"]
    good = bad.replace(
        "CASE WHEN completed THEN NULL ELSE now() END",
        "completion_time(NOT completed, completed_at, now())",
    )
    assert rules(good, catalog) == []


def test_now_inside_case_of_an_insert_fails(catalog):
    text = (
        "INSERT INTO tasks (user_id, title, completed, completed_at)"
        " VALUES (%(user_id)s, %(title)s, %(c)s, CASE WHEN %(c)s THEN now() END)"
    )
    assert rules(text, catalog) == ["case"]


def test_a_subquery_in_the_values_of_an_insert_fails_and_insert_select_passes(catalog):
    tick = (
        "WITH tick AS (INSERT INTO change_counters AS cc (user_id, seq) VALUES (%(user_id)s, 1)"
        " ON CONFLICT (user_id) DO UPDATE SET seq = cc.seq + 1 RETURNING cc.seq) "
    )
    values = "INSERT INTO lists (user_id, name, change_seq) VALUES (%(user_id)s, 'n', "
    assert rules(tick + values + "(SELECT seq FROM tick))", catalog) == ["insert-subquery"]
    select = "INSERT INTO lists (user_id, name, change_seq) SELECT %(user_id)s, 'n', seq FROM tick"
    assert rules(tick + select, catalog) == []


@pytest.mark.parametrize(
    "assignment",
    [
        "updated_at = clock_timestamp()",
        "title = to_char(due_at, 'YYYY')",
        "due_at = due_at + interval '1 day'",
    ],
)
def test_what_the_coordinator_cannot_evaluate_in_an_update_fails(catalog, assignment):
    text = f"UPDATE tasks SET {assignment} WHERE user_id = %(user_id)s AND id = %(task_id)s"
    assert rules(text, catalog) == ["coordinator"]


def test_now_without_a_column_is_evaluated_on_the_coordinator_and_passes(catalog):
    text = (
        "UPDATE tasks SET updated_at = now(), due_at = now() + interval '1 day'"
        " WHERE user_id = %(user_id)s AND id = %(task_id)s AND created_at < now() - interval '1 h'"
    )
    assert rules(text, catalog) == []


def test_now_in_on_conflict_do_update_fails_and_excluded_passes(catalog):
    text = (
        "INSERT INTO idempotency_keys AS k (user_id, key) VALUES (%(user_id)s, %(key)s)"
        " ON CONFLICT (user_id, key) DO UPDATE SET created_at = now()"
        " WHERE k.created_at < now() - interval '24 hours'"
    )
    assert rules(text, catalog) == ["on-conflict", "on-conflict", "on-conflict"]
    fixed = text.replace("SET created_at = now()", "SET created_at = excluded.created_at")
    fixed = fixed.replace(
        "k.created_at < now() - interval '24 hours'",
        "excluded.created_at - k.created_at > interval '24 hours'",
    )
    assert rules(fixed, catalog) == []


def test_a_cross_shard_statement_on_the_request_path_fails(catalog):
    assert rules("SELECT count(*) FROM tasks WHERE id = %(task_id)s", catalog) == ["single-user"]
    assert rules("DELETE FROM tasks WHERE user_id <> %(user_id)s", catalog) == ["single-user"]
    assert rules("UPDATE tasks SET title = 'x' WHERE user_id = %(other)s", catalog) == [
        "single-user"
    ]
    insert = "INSERT INTO tasks (user_id, title) VALUES (%(owner)s, %(title)s)"
    assert rules(insert, catalog) == ["single-user"]
    join = (
        "SELECT t.id FROM tasks t JOIN idempotency_keys k ON k.key = t.title"
        " WHERE t.user_id = %(user_id)s"
    )
    assert rules(join, catalog) == ["single-user"]


def test_statements_pinned_through_a_co_located_join_or_subquery_pass(catalog):
    join = (
        "SELECT t.id FROM tasks t JOIN idempotency_keys k ON k.user_id = t.user_id"
        " WHERE t.user_id = %(user_id)s"
    )
    assert rules(join, catalog) == []
    sub = (
        "SELECT id FROM tasks WHERE user_id = %(user_id)s AND title IN"
        " (SELECT key FROM idempotency_keys WHERE user_id = %(user_id)s)"
    )
    assert rules(sub, catalog) == []
    unpinned_sub = sub.replace("idempotency_keys WHERE user_id = %(user_id)s", "idempotency_keys")
    assert rules(unpinned_sub, catalog) == ["single-user"]


def test_jobs_may_span_users_but_not_claim_across_shards(catalog):
    scan = "SELECT user_id, id FROM tasks WHERE due_at < now() LIMIT 100"
    assert rules(scan, catalog, jobs=True) == []
    claim = scan + " FOR UPDATE SKIP LOCKED"
    assert rules(claim, catalog, jobs=True) == ["jobs"]
    pinned_claim = (
        "SELECT id FROM tasks WHERE user_id = %(user_id)s AND due_at < now() FOR UPDATE SKIP LOCKED"
    )
    assert rules(pinned_claim, catalog, jobs=True) == []


def test_a_foreign_key_between_distributed_tables_without_user_id_fails(catalog):
    catalog = Catalog(
        catalog.functions,
        catalog.distributed | {"reminders"},
        catalog.reference | {"zones"},
        catalog.primary_keys,
        catalog.column_types,
    )
    bad = (
        "CREATE TABLE reminders (user_id text, id uuid, task_id uuid REFERENCES tasks (id),"
        " PRIMARY KEY (user_id, id))"
    )
    assert [v.rule for v in check_foreign_keys(bad, catalog)] == ["foreign-key"]
    implied = "ALTER TABLE reminders ADD FOREIGN KEY (task_id) REFERENCES tasks"
    assert [v.rule for v in check_foreign_keys(implied, catalog)] == ["foreign-key"]
    swapped = (
        "ALTER TABLE reminders ADD FOREIGN KEY (task_id, user_id) REFERENCES tasks (user_id, id)"
    )
    assert [v.rule for v in check_foreign_keys(swapped, catalog)] == ["foreign-key"]
    to_local = "ALTER TABLE reminders ADD FOREIGN KEY (id) REFERENCES _yoyo_migration"
    assert [v.rule for v in check_foreign_keys(to_local, catalog)] == ["foreign-key"]
    good = (
        "ALTER TABLE reminders ADD FOREIGN KEY (user_id, task_id)"
        " REFERENCES tasks (user_id, id) ON DELETE CASCADE"
    )
    assert check_foreign_keys(good, catalog) == []
    to_reference = "ALTER TABLE reminders ADD FOREIGN KEY (id) REFERENCES zones (id)"
    assert check_foreign_keys(to_reference, catalog) == []


def test_a_check_violation_relayed_by_citus_still_names_its_constraint(db):
    # PostgreSQL sets the constraint_name field; a Citus coordinator relays a worker's error
    # with the message only (seen on Citus 13.2): the name is read from the message then.
    with pytest.raises(psycopg.errors.CheckViolation) as caught, db.transaction():
        db.execute("INSERT INTO tasks (user_id, title) VALUES ('u', '')")
    assert violated_constraint(caught.value) == "tasks_title_length"
    relayed = SimpleNamespace(
        diag=SimpleNamespace(
            constraint_name=None,
            message_primary='new row for relation "tasks_102050" violates check constraint'
            ' "tasks_recurrence_needs_due"',
        )
    )
    assert violated_constraint(relayed) == "tasks_recurrence_needs_due"
