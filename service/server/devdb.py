"""An embedded PostgreSQL for development and tests (PyPI pgserver), shared by every process.

    python -m service.server.devdb            # start it if needed, print its DATABASE_URL
    python -m service.server.devdb stop       # stop it

The data lives in $TASKS_DEV_PGDATA (default .pgdata/ in the project), so two `make run`
on different ports use the same database. pgserver ships its own PostgreSQL binaries and
runs as root by switching to a user of its own.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path

from service.core.config import PROJECT_ROOT

DEFAULT_DIR = PROJECT_ROOT / ".pgdata"
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def data_dir() -> Path:
    """Return where the embedded server keeps its data."""
    return Path(os.environ.get("TASKS_DEV_PGDATA") or DEFAULT_DIR).resolve()


def ensure_server(directory: Path | None = None, database: str = "tasks") -> str:
    """Start the embedded server unless it runs already, create `database`, return its URL."""
    # Dev-only dependency, imported here and never by the service. platformdirs warns that
    # XDG_RUNTIME_DIR is unset on servers, which is harmless here.
    warnings.filterwarnings("ignore", category=Warning, module="platformdirs.*")
    import pgserver

    if not _DATABASE_NAME.fullmatch(database):
        raise ValueError(f"database name must match {_DATABASE_NAME.pattern}")
    server = pgserver.get_server(str(directory or data_dir()), cleanup_mode=None)
    # pgserver's psql helper takes text only; the name was checked against a strict pattern.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    socket_dir = directory or data_dir()
    return f"postgresql://postgres@/{database}?host={socket_dir}"


def stop_server(directory: Path | None = None) -> None:
    """Stop the embedded server if it runs; say what was done in one line."""
    import subprocess

    pgdata = directory or data_dir()
    if not (pgdata / "postmaster.pid").exists():
        print(f"the embedded PostgreSQL in {pgdata} is not running")
        return
    # Imported only now: a venv made for serving against another database lacks it.
    warnings.filterwarnings("ignore", category=Warning, module="platformdirs.*")
    import pgserver

    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    owner = pgdata.stat().st_uid
    cmd = [str(pg_ctl), "-D", str(pgdata), "-m", "fast", "-w", "stop"]
    if os.geteuid() == 0 and owner != 0:
        import pwd

        cmd = ["runuser", "-u", pwd.getpwuid(owner).pw_name, "--", *cmd]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)  # noqa: S603 - fixed argv
    print(f"stopped the embedded PostgreSQL in {pgdata}")


def main(argv: list[str]) -> int:
    """Run the command line."""
    if argv[1:2] == ["stop"]:
        stop_server()
        return 0
    database = argv[1] if len(argv) > 1 else "tasks"
    print(ensure_server(database=database))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
