"""Migrations apply and roll back cleanly on an empty database; the schema stays shardable."""

from __future__ import annotations

import psycopg

from service.data.health import expected_migrations
from service.server import migrate


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_apply_then_rollback_everything_on_an_empty_database(scratch):
    url = scratch.create()
    applied = migrate.apply(url)
    assert applied == expected_migrations()
    assert "tasks" in tables(url)
    assert migrate.apply(url) == []
    rolled = migrate.rollback(url, count=len(applied))
    assert rolled == list(reversed(applied))
    assert "tasks" not in tables(url)
    assert migrate.status(url) == ([], expected_migrations())
    assert migrate.apply(url) == expected_migrations()


def test_every_migration_has_a_rollback():
    from service.core.config import MIGRATIONS_DIR

    for migration in expected_migrations():
        assert (MIGRATIONS_DIR / f"{migration}.rollback.sql").is_file(), migration


# Tables that hold no user data and so have no user_id (on Citus: coordinator-local or
# reference tables, never distributed). A new one is declared here on purpose.
SERVICE_TABLES = {"service_keys"}


def test_every_table_without_user_id_is_a_declared_service_table(database_url):
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT t.relname FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = 'public' AND t.relkind = 'r' AND t.relname <> ALL(%s)
              AND t.relname NOT LIKE '\\_yoyo%%' AND t.relname <> 'yoyo_lock'
              AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                              WHERE a.attrelid = t.oid AND a.attname = 'user_id')
            """,
            (sorted(SERVICE_TABLES),),
        ).fetchall()
    assert not rows, f"tables without user_id that are not declared service tables: {rows}"


def test_primary_key_and_unique_indexes_start_with_user_id(database_url):
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT c.relname AS index, t.relname AS table, a.attname AS first_column
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
            WHERE n.nspname = 'public' AND (i.indisunique OR i.indisprimary)
              AND t.relname NOT LIKE '\\_yoyo%%' AND t.relname <> 'yoyo_lock'
              AND t.relname <> ALL(%s)
            """,
            (sorted(SERVICE_TABLES),),
        ).fetchall()
    assert rows, "expected at least the tasks primary key"
    offenders = [r for r in rows if r[2] != "user_id"]
    assert not offenders, f"unique indexes not led by user_id: {offenders}"
