"""Check that every write statement on tasks or lists moves the user's change counter.

The changes feed (docs/sync.md) is only correct if every statement that writes a task or a
list takes the user's change counter in the same statement and stamps what it writes:
- an INSERT into, or an UPDATE of, tasks or lists sets `change_seq`;
- a DELETE from tasks or lists leaves tombstones (an INSERT into change_tombstones), or, for
  the erase of an account, its tick raises the user's horizon (expired_through) instead;
- a SELECT ... FOR UPDATE of tasks or lists (a lock taken before the transaction's writes)
  takes the counter first, like the writes;
- and each such statement holds the counter's tick, whose value the stamps read: an INSERT
  into change_counters with ON CONFLICT, or an UPDATE of it that sets `seq` (a guarded tick,
  which may match no row: the outbox-free statements' `WHERE webhooks = 0`), under which
  every write must be guarded too (an INSERT ... SELECT ... FROM tick, an UPDATE or DELETE
  whose WHERE reads tick), so that a tick that matched nothing writes nothing.
The statements are parsed with PostgreSQL's own parser (pglast), as tests/citus_rules.py does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pglast import ast, parse_sql

from tests.citus_rules import to_positional

FEED_TABLES = frozenset({"tasks", "lists"})


def nodes(node: object) -> Iterator[ast.Node]:
    """Yield `node` and every AST node below it, sub-statements and CTEs included."""
    if isinstance(node, ast.Node):
        yield node
        for field in node:
            yield from nodes(getattr(node, field))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from nodes(item)


def _reads_tick(node: object) -> bool:
    return any(isinstance(child, ast.RangeVar) and child.relname == "tick" for child in nodes(node))


def problems(text: str, source: str = "<sql>") -> tuple[list[str], int]:
    """Return what `text` breaks of the rules above, and how many feed writes it holds."""
    found: list[str] = []
    writes = 0
    positional, _ = to_positional(text)
    for raw in parse_sql(positional):
        stmt = raw.stmt
        all_nodes = list(nodes(stmt))
        ticks = [
            n
            for n in all_nodes
            if isinstance(n, ast.InsertStmt)
            and n.relation.relname == "change_counters"
            and n.onConflictClause is not None
        ]
        guarded = [
            n
            for n in all_nodes
            if isinstance(n, ast.UpdateStmt)
            and n.relation.relname == "change_counters"
            and any(target.name == "seq" for target in n.targetList)
        ]
        ticks += guarded
        tombstones = any(
            isinstance(n, ast.InsertStmt) and n.relation.relname == "change_tombstones"
            for n in all_nodes
        )
        needs_tick = False
        for n in all_nodes:
            if isinstance(n, ast.UpdateStmt) and n.relation.relname in FEED_TABLES:
                writes += 1
                needs_tick = True
                stamps = [t for t in n.targetList if t.name == "change_seq"]
                if not stamps or not _reads_tick(stamps[0].val):
                    found.append(f"{source}: UPDATE {n.relation.relname} sets no change_seq")
                if guarded and not _reads_tick((n.whereClause, n.fromClause)):
                    found.append(f"{source}: UPDATE {n.relation.relname} not guarded by the tick")
            elif isinstance(n, ast.InsertStmt) and n.relation.relname in FEED_TABLES:
                writes += 1
                needs_tick = True
                columns = [c.name for c in n.cols or ()]
                if "change_seq" not in columns or not _reads_tick(n.selectStmt):
                    found.append(f"{source}: INSERT INTO {n.relation.relname} sets no change_seq")
                if guarded and not _reads_tick(getattr(n.selectStmt, "fromClause", None)):
                    found.append(
                        f"{source}: INSERT INTO {n.relation.relname} not guarded by the tick"
                    )
            elif isinstance(n, ast.DeleteStmt) and n.relation.relname in FEED_TABLES:
                writes += 1
                needs_tick = True
                horizon = any(
                    target.name == "expired_through"
                    for tick in ticks
                    if isinstance(tick, ast.InsertStmt)
                    for target in tick.onConflictClause.targetList or ()
                )
                if not tombstones and not horizon:
                    found.append(f"{source}: DELETE FROM {n.relation.relname} leaves no tombstone")
            elif isinstance(n, ast.SelectStmt) and n.lockingClause:
                tables = {c.relname for c in nodes(n.fromClause) if isinstance(c, ast.RangeVar)}
                if tables & FEED_TABLES:
                    needs_tick = True
                    if not _reads_tick(n.whereClause):
                        found.append(f"{source}: a row lock on {tables} before the counter")
        if needs_tick and len(ticks) != 1:
            found.append(f"{source}: {len(ticks)} change-counter ticks (one is needed)")
    return found, writes


def check_sql_dir(directory: Path) -> tuple[list[str], int]:
    """Check every statement under `directory`; return the problems and the writes seen."""
    found: list[str] = []
    writes = 0
    for path in sorted(directory.rglob("*.sql")):
        more, count = problems(path.read_text(encoding="utf-8"), str(path.relative_to(directory)))
        found += more
        writes += count
    return found, writes
