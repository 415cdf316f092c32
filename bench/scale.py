"""Listing cost at depth: page 1 against page 1000, for every sort, on a million tasks.

Creates a scratch database on the given server, applies the migrations, seeds `--total`
tasks of which `--user-tasks` belong to one user (generate_series, in SQL), then times the
real WSGI app in-process (parse, validate, SQL, serialise) for page 1 and page 1000 of every
sort order, and for text searches. Page 1000 is reached by jumping: the keyset position of
its predecessor's last task is read once with OFFSET (untimed) and signed into a cursor, so
the timed request is exactly what following 999 Link headers would send. `--walk` also
follows the Link headers of the default sort page by page, to check the jump is faithful.
The scratch database is dropped at the end.

    .venv/bin/python bench/scale.py --server postgresql://postgres@127.0.0.1:5432/postgres

Prints a table and appends JSON lines to bench/out/scale-<time>.jsonl.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson
import psycopg
from falcon import testing
from psycopg import sql
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.api.listing import CursorCodec
from service.core.config import Config
from service.data.listing import STATEMENTS, Filters, PageRequest, Position, Sort
from service.data.queries import Queries
from service.server import migrate
from service.server.bootstrap import build

OUT_DIR = Path(__file__).resolve().parent / "out"
USER = "bench-user"
SECRET = "bench-cursor-secret-0123456789"  # noqa: S105 - a throwaway database

SEED = """
INSERT INTO tasks (user_id, title, description, completed, completed_at, priority, due_at,
                   tags, "order", created_at, updated_at)
SELECT CASE WHEN g <= %(user_tasks)s THEN %(user)s ELSE 'user-' || (g %% 9000) END,
       initcap(substr(md5(g::text), 1, 6)) || ' ' || substr(md5((g * 7)::text), 1, 8),
       CASE WHEN g %% 10 < 3 THEN 'notes ' || md5((g * 13)::text) END,
       g %% 3 = 0,
       CASE WHEN g %% 3 = 0 THEN ts + interval '1 day' END,
       (ARRAY['low', 'normal', 'high'])[1 + g %% 3]::task_priority,
       CASE WHEN g %% 4 <> 0 THEN ts + (g %% 720) * interval '1 hour' END,
       CASE WHEN g %% 5 = 0 THEN ARRAY['work'] WHEN g %% 5 = 1 THEN ARRAY['home', 'shop']
            ELSE '{}' END,
       CASE WHEN g %% 10 < 7 THEN ((g::bigint * 7919) %% 100000)::integer END,
       ts, ts + (g %% 1000) * interval '1 minute'
FROM generate_series(1, %(total)s) AS g,
     LATERAL (SELECT timestamptz '2025-01-01' + g * interval '31 seconds' AS ts) AS t
"""


def with_database(url: str, name: str) -> str:
    """Return `url` pointing at database `name` on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def seed(url: str, total: int, user_tasks: int) -> float:
    """Load the tasks with the listing indexes dropped, then build them with migration 0002."""
    started = time.perf_counter()
    migrate.apply(url)
    migrate.rollback(url)  # build 0002's indexes over the loaded table, as a deploy would
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(SEED, {"total": total, "user_tasks": user_tasks, "user": USER})
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tasks")
    return time.perf_counter() - started


def position_at(conn: psycopg.Connection, sort: Sort, offset: int) -> Position:
    """Return the keyset position of the task at `offset` in the sort's order (untimed)."""
    statement = Queries.load()[sort.statement]
    params = {
        **Filters().params(),
        "user_id": USER,
        "after_key": None,
        "after_id": None,
        "limit": offset + 1,
    }
    row = conn.execute(statement, params, prepare=False).fetchall()[-1]
    return Position(key=row["sort_key"], id=row["id"])


def timed(client: testing.TestClient, path: str, query: str, runs: int) -> dict[str, Any]:
    """GET path?query `runs` times after two warm-ups; return latency figures in ms."""
    samples = []
    result = None
    for attempt in range(runs + 2):
        started = time.perf_counter()
        result = client.simulate_get(path, query_string=query)
        elapsed = (time.perf_counter() - started) * 1000
        assert result.status_code == 200, (result.status, result.text[:200])
        if attempt >= 2:
            samples.append(elapsed)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2),
        "rows": len(result.json),
        "has_next": "link" in result.headers,
    }


def buffers(conn: psycopg.Connection, sort: Sort, position: Position | None, limit: int) -> int:
    """Return the shared buffers one execution of the page's statement touches."""
    statement = Queries.load()[sort.statement]
    params = {
        **Filters().params(),
        "user_id": USER,
        "after_key": position.key if position else None,
        "after_id": position.id if position else None,
        "limit": limit + 1,
    }
    plan = conn.execute(
        "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) " + statement, params
    ).fetchone()["QUERY PLAN"][0]["Plan"]
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)


def walk(client: testing.TestClient, path: str, limit: int, pages: int) -> tuple[float, str]:
    """Follow Link headers for `pages` pages; return the seconds taken and the last page's
    first task id."""
    started = time.perf_counter()
    result = client.simulate_get(path, query_string=f"limit={limit}")
    for _ in range(pages - 1):
        link = result.headers["link"]
        target = urlsplit(link[1 : link.index(">")])
        result = client.simulate_get(target.path, query_string=target.query)
    return time.perf_counter() - started, result.json[0]["id"]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--user-tasks", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--page", type=int, default=1000, help="the deep page to time")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--walk", action="store_true", help="also walk to the deep page")
    args = parser.parse_args(argv)
    if args.limit * (args.page - 1) >= args.user_tasks:
        parser.error("--page is beyond the user's tasks")

    name = f"tasks_bench_{uuid.uuid4().hex[:8]}"
    url = with_database(args.server, name)
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        version = admin.execute("SHOW server_version").fetchone()[0]
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / f"scale-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.jsonl"
    records: list[dict[str, Any]] = []
    try:
        seconds = seed(url, args.total, args.user_tasks)
        print(
            f"PostgreSQL {version}: seeded {args.total:,} tasks ({args.user_tasks:,} for one"
            f" user) and built the indexes in {seconds:.0f} s"
        )
        config = Config.from_env(
            {
                "DATABASE_URL": url,
                "LOG_LEVEL": "WARNING",
                "CURSOR_SECRET": SECRET,
                "PG_STATEMENT_TIMEOUT_MS": "30000",
            },
            dotenv_path=None,
        )
        runtime = build(config)
        runtime.pool.open(wait=True, timeout=10)
        client = testing.TestClient(runtime.app)
        codec = CursorCodec.from_config(config)
        path = f"/api/{USER}/tasks"
        jump_to_page: dict[Sort, str] = {}
        base = {
            "total": args.total,
            "user_tasks": args.user_tasks,
            "limit": args.limit,
            "server": version,
            "runs": args.runs,
        }
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            for key, descending in sorted(STATEMENTS):
                sort = Sort(key, descending)
                request = PageRequest(sort=sort, filters=Filters(), limit=args.limit)
                deep = position_at(conn, sort, args.limit * (args.page - 1) - 1)
                cursor = codec.encode(USER, request, deep)
                jump_to_page[sort] = f"sort={quote(str(sort))}&limit={args.limit}&cursor={cursor}"
                for page, position, query in (
                    (1, None, f"sort={sort}&limit={args.limit}"),
                    (args.page, deep, jump_to_page[sort]),
                ):
                    figures = timed(client, path, query, args.runs)
                    records.append(
                        {
                            **base,
                            "case": f"sort={sort}",
                            "page": page,
                            **figures,
                            "buffers": buffers(conn, sort, position, args.limit),
                        }
                    )
        for label, q in (("q selective", "ab12"), ("q broad", "notes"), ("q two terms", "a 1")):
            figures = timed(client, path, f"q={quote(q)}&limit={args.limit}", args.runs)
            records.append(
                {**base, "case": f"{label}: q={q}", "page": 1, **figures, "buffers": None}
            )
        if args.walk:
            seconds, walked_first = walk(client, path, args.limit, args.page)
            jumped = client.simulate_get(path, query_string=jump_to_page[Sort("created_at", False)])
            assert jumped.json[0]["id"] == walked_first, "the jump and the walk disagree"
            print(
                f"walked {args.page} pages by Link headers in {seconds:.1f} s"
                f" ({seconds / args.page * 1000:.2f} ms a page); the jump lands on the same page"
            )
        runtime.stop()
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    with out.open("ab") as sink:
        for record in records:
            sink.write(orjson.dumps(record) + b"\n")
    print(f"{'case':<28} {'page':>5} {'median ms':>10} {'p95 ms':>8} {'rows':>5} {'buffers':>8}")
    for r in records:
        print(
            f"{r['case']:<28} {r['page']:>5} {r['median_ms']:>10.2f} {r['p95_ms']:>8.2f}"
            f" {r['rows']:>5} {r['buffers'] if r['buffers'] is not None else '-':>8}"
        )
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
