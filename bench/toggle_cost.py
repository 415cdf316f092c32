"""Where a toggle's database CPU goes: PostgreSQL's backend CPU per execution of variants.

usage: DATABASE_URL=postgresql://... .venv/bin/python -m bench.toggle_cost [N] [VARIANT ...]

Needs PostgreSQL on this machine (the backend's /proc/<pid>/stat is read) and a database
migrated to head that it may write to (a scratch one: it creates a user's task and a table,
toggle_cost_bare, which it drops at the end). One connection, autocommit, each variant
prepared, N executions (default 3000) per variant, two rounds; prints microseconds of
backend CPU (user + system: the commit's fsync included) and of wall time per execution.

Variants, each a statement over the same task:
  shipped          sql/task_toggle_flat.sql as the service sends it (the outbox form)
  plain            sql/task_toggle_plain.sql: what a user without webhooks runs
  no_outbox        without the webhooks probe and the event and delivery inserts
  no_tick          without the change counter (change_seq taken from the row)
  no_outbox_tick   without either
  tick_update      the counter taken by a plain UPDATE instead of INSERT ... ON CONFLICT
  tick_update_no_outbox  that, without the outbox
  tasks_minimal    one UPDATE of tasks setting what a toggle sets, RETURNING the row
                   (the table's CHECK constraints and stamp trigger still run)
  bare             the perf kit's floor statement on a table of the floor's shape
Clock ticks are 10 ms: with N = 3000 a tick is 3.3 us per execution.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from pathlib import Path

import psycopg

from bench.sweep import cpu_seconds
from service.data.queries import compact
from service.domain.positions import creation_key

ROOT = Path(__file__).resolve().parent.parent


def _without_outbox(sql: str) -> str:
    start = sql.index("hooks AS (")
    start = sql.rindex(",", 0, start)
    end = sql.index("SELECT id, user_id, title", start)
    return sql[:start] + "\n" + sql[end:]


def _without_tick(sql: str) -> str:
    sql = "WITH " + sql[sql.index("changed AS (") :]
    return sql.replace("(SELECT seq FROM tick)", "t.change_seq + 1")


def _tick_as_update(sql: str) -> str:
    start = sql.index("INSERT INTO change_counters")
    end = sql.index("RETURNING cc.seq", start)
    tick = "UPDATE change_counters AS cc SET seq = cc.seq + 1 WHERE cc.user_id = %(user_id)s\n"
    return "".join((sql[:start], tick, sql[end:]))


def variants() -> dict[str, str]:
    """Return each variant's statement."""
    shipped = compact((ROOT / "sql" / "task_toggle_flat.sql").read_text())
    return {
        "shipped": shipped,
        "plain": compact((ROOT / "sql" / "task_toggle_plain.sql").read_text()),
        "no_outbox": _without_outbox(shipped),
        "no_tick": _without_tick(shipped),
        "no_outbox_tick": _without_tick(_without_outbox(shipped)),
        "tick_update": _tick_as_update(shipped),
        "tick_update_no_outbox": _tick_as_update(_without_outbox(shipped)),
        "tasks_minimal": (
            "UPDATE tasks AS t SET completed = NOT t.completed,"
            " completed_at = completion_time(NOT t.completed, t.completed_at, now()),"
            " completion_id = CASE WHEN t.completed THEN NULL"
            " ELSE %(completion_id)s::uuid END,"
            " version = t.version + 1, updated_at = now()"
            " WHERE t.user_id = %(user_id)s AND t.id = %(task_id)s"
            " AND %(completion_id)s::uuid IS NOT NULL AND %(if_versions)s::integer[] IS NULL"
            " AND %(tasks_url)s::text IS NOT NULL"
            " RETURNING t.*"
        ),
        "bare": (
            "UPDATE toggle_cost_bare SET completed = NOT completed, updated_at = now()"
            " WHERE user_id = %(user_id)s AND id = %(task_id)s"
            " AND %(completion_id)s::uuid IS NOT NULL AND %(if_versions)s::integer[] IS NULL"
            " AND %(tasks_url)s::text IS NOT NULL"
            " RETURNING id, user_id, title, description, completed, created_at, updated_at"
        ),
    }


def main() -> None:
    """Print the figures."""
    args = sys.argv[1:]
    number = int(args.pop(0)) if args and args[0].isdigit() else 3000
    statements = variants()
    names = args or list(statements)
    unknown = set(names) - set(statements)
    if unknown:
        sys.exit(f"unknown variant(s): {', '.join(sorted(unknown))}")
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        pid = conn.info.backend_pid
        user = f"toggle-cost-{uuid.uuid4().hex[:8]}"
        row = conn.execute(
            "INSERT INTO tasks (user_id, title, position) VALUES (%s, 'toggled', %s) RETURNING id",
            (user, creation_key()),
        ).fetchone()
        assert row is not None
        task_id = row[0]
        # The plain UPDATE of tick_update needs the user's counter row to exist.
        conn.execute(
            "INSERT INTO change_counters (user_id, seq) VALUES (%s, 1) ON CONFLICT DO NOTHING",
            (user,),
        )
        conn.execute(
            "CREATE TABLE toggle_cost_bare (id uuid PRIMARY KEY, user_id text NOT NULL,"
            " title text NOT NULL, description text, completed boolean NOT NULL,"
            " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)"
        )
        try:
            conn.execute("CREATE INDEX ON toggle_cost_bare (user_id, created_at)")
            conn.execute(
                "INSERT INTO toggle_cost_bare VALUES (%s, %s, 'toggled', 'd', false, now(), now())",
                (task_id, user),
            )
            params = {
                "user_id": user,
                "task_id": task_id,
                "completion_id": uuid.uuid4(),
                "if_versions": None,
                "tasks_url": f"http://127.0.0.1/api/{user}/tasks",
            }
            for _ in range(2):
                for name in names:
                    sql = statements[name]
                    for _ in range(20):  # prepared, plan settled
                        assert conn.execute(sql, params, prepare=True).fetchone() is not None
                    cpu, wall = cpu_seconds([pid])[pid], time.perf_counter()
                    for _ in range(number):
                        conn.execute(sql, params, prepare=True)
                    cpu, wall = cpu_seconds([pid])[pid] - cpu, time.perf_counter() - wall
                    print(
                        f"{name:<15} backend cpu {cpu / number * 1e6:6.1f} us"
                        f"   wall {wall / number * 1e6:6.1f} us",
                        flush=True,
                    )
        finally:
            conn.execute("DROP TABLE toggle_cost_bare")
            conn.execute("DELETE FROM tasks WHERE user_id = %s", (user,))
            conn.execute("DELETE FROM change_counters WHERE user_id = %s", (user,))


if __name__ == "__main__":
    if not re.match(r"postgres(ql)?://", os.environ.get("DATABASE_URL", "")):
        sys.exit("set DATABASE_URL to a scratch database migrated to head")
    main()
