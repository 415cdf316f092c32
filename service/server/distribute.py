"""Distribute the schema on a Citus cluster by user_id: the one step an operator runs once.

    python -m service.server.distribute            # distribute what is not yet distributed
    python -m service.server.distribute --dry-run  # print the statements instead

DATABASE_URL names the coordinator's database, migrated first (`migrate apply`). Every table
of schema public with a user_id column becomes a distributed table by user_id, co-located
with tasks, so one user's rows of every table live on the same shard and every request-path
statement (pinned to one user_id) runs on one node; except the tables named in
LOCAL_TABLES (kept on the coordinator) and REFERENCE_TABLES (copied to every node). Tables
without user_id (yoyo's own, the service's settings) stay on the coordinator. The service's
own functions are propagated to every node, since the workers run the statements that call
them. Running it again distributes only what a later migration added; `migrate apply` does
that by itself once tasks is distributed (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

import psycopg
from psycopg import sql

from service.core.config import Config

# The table every other user table is co-located with.
ANCHOR_TABLE = "tasks"
# Tables with a user_id column that stay on the coordinator: cross-user work queues whose
# claims (FOR UPDATE SKIP LOCKED) must lock rows, which Citus does only in single-shard
# statements and on coordinator-local or reference tables (docs/scaling.md). None yet.
LOCAL_TABLES: frozenset[str] = frozenset()
# Small, rarely written tables every node needs for joins. None yet.
REFERENCE_TABLES: frozenset[str] = frozenset()


def has_citus(conn: psycopg.Connection) -> bool:
    """Tell whether the citus extension is installed in this database."""
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone() is not None


def is_distributed(database_url: str) -> bool:
    """Tell whether this database runs on Citus with the anchor table already distributed."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if not has_citus(conn):
            return False
        row = conn.execute(
            "SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass(%s)",
            (ANCHOR_TABLE,),
        ).fetchone()
        return row is not None


def user_tables(conn: psycopg.Connection) -> list[str]:
    """Return the tables of schema public with a user_id column, referenced tables first."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            "   AND a.attname = 'user_id' AND NOT a.attisdropped"
            " ORDER BY c.relname"
        )
    ]
    references = conn.execute(
        "SELECT c.relname, r.relname FROM pg_constraint k"
        " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid"
        " WHERE k.contype = 'f' AND c.oid <> r.oid"
    ).fetchall()
    return _referenced_first(tables, references)


def _referenced_first(tables: list[str], references: Iterable[tuple[str, str]]) -> list[str]:
    # Citus distributes a table only after the tables its foreign keys point to; tasks comes
    # as early as that allows (its own references first), so the group is named after it.
    needs: dict[str, set[str]] = {t: set() for t in tables}
    for table, target in references:
        if table in needs and target in needs:
            needs[table].add(target)
    early = {ANCHOR_TABLE}
    while True:
        more = {target for table in early for target in needs.get(table, ())} - early
        if not more:
            break
        early |= more
    ordered: list[str] = []
    while needs:
        ready = [t for t, deps in needs.items() if not deps - set(ordered)] or list(needs)
        table = min(ready, key=lambda t: (t not in early, t))
        ordered.append(table)
        del needs[table]
    return ordered


def plan(conn: psycopg.Connection) -> list[sql.Composed]:
    """Return the statements still needed to distribute this database's schema."""
    placed = {
        row[0] for row in conn.execute("SELECT logicalrelid::regclass::text FROM pg_dist_partition")
    }
    # The statements call the service's own functions on the workers (utc_text in RETURNING),
    # and tasks' CHECK constraint calls tasks_row_check (migration 0015): the functions go
    # to every node first, so that the shards' constraints find them.
    functions = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'"
        " WHERE n.nspname = 'public' AND d.objid IS NULL"
        "   AND NOT EXISTS (SELECT 1 FROM pg_dist_object o"
        "                   WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid)"
        " ORDER BY 1"
    ).fetchall()
    functions_first = [
        sql.SQL("SELECT create_distributed_function({})").format(sql.Literal(signature))
        for (signature,) in functions
    ]
    tables: list[sql.Composed] = []
    # The first table distributed makes the co-location group (tasks, unless a table it
    # references must go first); every other one joins that group.
    group = ANCHOR_TABLE if ANCHOR_TABLE in placed else None
    for table in user_tables(conn):
        if table in placed or table in LOCAL_TABLES:
            continue
        if table in REFERENCE_TABLES:
            create = sql.SQL("SELECT create_reference_table({})").format(sql.Literal(table))
        elif group is None:
            group = table
            create = sql.SQL("SELECT create_distributed_table({}, 'user_id')").format(
                sql.Literal(table)
            )
        else:
            create = sql.SQL(
                "SELECT create_distributed_table({}, 'user_id', colocate_with => {})"
            ).format(sql.Literal(table), sql.Literal(group))
        tables.append(create)
    # tasks has row triggers that keep its stamps (migration 0014): Citus distributes a table
    # with triggers only with this set. The trigger writes task_stamps' shard that is
    # co-located with the row's (docs/scaling.md).
    settings = [sql.SQL("SET citus.enable_unsafe_triggers = on")] if tables else []
    return [*settings, *functions_first, *tables]


def distribute(database_url: str, dry_run: bool = False) -> list[str]:
    """Run (or with dry_run only list) the statements of `plan`; return them as text."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if not has_citus(conn):
            raise RuntimeError(
                "the citus extension is not installed in this database: "
                "CREATE EXTENSION citus and add the worker nodes first (docs/scaling.md)"
            )
        done = []
        for statement in plan(conn):
            text = statement.as_string(conn)
            if not dry_run:
                conn.execute(statement)
            done.append(text)
        return done


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m service.server.distribute",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="print, do not run")
    args = parser.parse_args(argv)
    try:
        done = distribute(Config.from_env().database_url, dry_run=args.dry_run)
    except (RuntimeError, psycopg.Error) as exc:
        print(f"distribute: {exc}", file=sys.stderr)
        return 1
    for text in done:
        print(f"{text};")
    if not done:
        print("-- nothing to do: the schema is distributed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
