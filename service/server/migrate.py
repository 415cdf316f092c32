"""Apply or roll back the yoyo migrations: the one path used by make, tests, CI and ops.

    python -m service.server.migrate apply      # every pending migration (each in a transaction)
    python -m service.server.migrate rollback   # the latest applied migration only
    python -m service.server.migrate status     # applied and pending migrations

DATABASE_URL is read from the environment (or .env); `make migrate`, `make status` and
`make rollback` run these on the embedded development database when it is unset.
`yoyo apply` with the same URL (scheme postgresql+psycopg://) does the same thing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations

from service.core.config import MIGRATIONS_DIR, load_config_or_exit
from service.server import distribute


def yoyo_url(database_url: str) -> str:
    """Return the URL yoyo needs to use psycopg 3 (scheme postgresql+psycopg)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep:
        raise ValueError("DATABASE_URL must look like postgresql://user@host:port/database")
    if scheme in {"postgres", "postgresql"}:
        scheme = "postgresql+psycopg"
    return f"{scheme}://{rest}"


def apply(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration under yoyo's lock; return the ids applied.

    On a database already distributed with Citus, the tables the migrations added are
    distributed right after them (docs/scaling.md), so a release stays one step.
    """
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(directory))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    if pending and distribute.is_distributed(database_url):
        distribute.distribute(database_url)
    return [m.id for m in pending]


def rollback(database_url: str, directory: Path = MIGRATIONS_DIR, count: int = 1) -> list[str]:
    """Roll back the `count` most recently applied migrations; return their ids."""
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(directory))
    with backend.lock():
        applied = backend.to_rollback(migrations)[:count]
        backend.rollback_migrations(applied)
    return [m.id for m in applied]


def status(database_url: str, directory: Path = MIGRATIONS_DIR) -> tuple[list[str], list[str]]:
    """Return (applied, pending) migration ids."""
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(directory))
    pending = {m.id for m in backend.to_apply(migrations)}
    ids = [m.id for m in migrations]
    return [i for i in ids if i not in pending], [i for i in ids if i in pending]


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m service.server.migrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["apply", "rollback", "status"])
    parser.add_argument("--count", type=int, default=1, help="how many to roll back (default 1)")
    args = parser.parse_args(argv)
    url = load_config_or_exit().database_url
    try:
        return _run(args.command, url, args.count)
    except psycopg.OperationalError as error:
        # libpq's message may span lines; say it in one.
        raise SystemExit("cannot reach the database: " + " ".join(str(error).split())) from None


def _run(command: str, url: str, count: int) -> int:
    if command == "apply":
        done = apply(url)
        print("applied: " + (", ".join(done) if done else "nothing (schema is current)"))
    elif command == "rollback":
        done = rollback(url, count=count)
        print("rolled back: " + (", ".join(done) if done else "nothing"))
    else:
        applied, pending = status(url)
        print("applied: " + (", ".join(applied) or "none"))
        print("pending: " + (", ".join(pending) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
