"""Test fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), migrated once per session.

Each session gets a scratch database of its own on that server, created here, migrated with
the same code path as production (`service.server.migrate.apply`) and dropped at the end. Tests
isolate themselves by user id instead of truncating, which also exercises user scoping.
"""

from __future__ import annotations

import os
import tempfile

# prometheus-client chooses between in-memory and multiprocess values when it is first
# imported, so the directory must be set before anything imports the service. The suite runs
# in multiprocess mode, as under gunicorn; the directory is removed at the end of the session.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tasks-test-metrics-")

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from webtest import TestApp

from service.core.config import PROJECT_ROOT, Config
from service.server import distribute, migrate
from service.server.bootstrap import Runtime, build
from tests.faultkit import PgBouncer

# TEST_VIA_PGBOUNCER=1: the service's pool reaches the test server through PgBouncer in
# transaction pooling mode (started here); fixtures' own connections stay direct.
VIA_PGBOUNCER = os.environ.get("TEST_VIA_PGBOUNCER", "").lower() in {"1", "true", "yes"}
_pgbouncer: PgBouncer | None = None
# TEST_CITUS=1: TEST_DATABASE_URL is a Citus coordinator with its workers registered; the
# session's database is distributed as docs/scaling.md says, after the migrations.
CITUS = os.environ.get("TEST_CITUS", "").lower() in {"1", "true", "yes"}
# What an operator sets on the role or database behind PgBouncer (docs/operations.md):
# the service's session SET cannot follow a client through transaction pooling.
PGBOUNCER_STATEMENT_TIMEOUT_MS = 2000


def with_database(url: str, name: str) -> str:
    """Return `url` pointing at database `name` on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def server_url() -> str:
    """Return the URL of the server the tests use: TEST_DATABASE_URL or the embedded one."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return explicit
    from service.server.devdb import ensure_server

    directory = Path(os.environ.get("TASKS_TEST_PGDATA") or PROJECT_ROOT / ".pgdata-test")
    return ensure_server(directory=directory, database="postgres")


class ScratchDatabases:
    """Create and drop throwaway databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._created: list[str] = []

    def create(self, prefix: str = "tasks_test") -> str:
        """Create an empty database and return its URL.

        On a Citus coordinator (the admin database has citus and worker nodes), the database
        is created on every node (Citus propagates CREATE DATABASE) and joins the same
        cluster, so migrations and the distribution step run as an operator runs them.
        """
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            nodes = citus_nodes(conn)
            if nodes:
                conn.execute("SET citus.enable_create_database_propagation = on")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.append(name)
        url = with_database(self.admin_url, name)
        if nodes:
            join_citus_cluster(url, nodes)
        return url

    def drop_all(self) -> None:
        """Drop every database this object created."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            nodes = citus_nodes(conn)
            if nodes:
                conn.execute("SET citus.enable_create_database_propagation = on")
                # WITH (FORCE) ends the sessions on the coordinator only; a worker still
                # serving one (a test that killed its client) would refuse the DROP.
                end_sessions_on_workers(self.admin_url, nodes, self._created)
            for name in self._created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def waiting_on_a_lock(conn: psycopg.Connection) -> bool:
    """Tell whether a backend of this database waits on a lock (on any node of a Citus cluster).

    On Citus a write waits on the worker that holds the row, not on the coordinator.
    """
    citus = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone()
    view = "citus_stat_activity" if citus else "pg_stat_activity"
    query = sql.SQL(
        "SELECT 1 FROM {} WHERE wait_event_type = 'Lock' AND datname = current_database()"
    ).format(sql.Identifier(view))
    return conn.execute(query).fetchone() is not None


def citus_nodes(conn: psycopg.Connection) -> list[tuple[str, int, bool]]:
    """Return the Citus nodes (host, port, is coordinator) the connection's database knows."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone() is None:
        return []
    rows = conn.execute(
        "SELECT nodename, nodeport, groupid = 0 FROM pg_dist_node WHERE isactive ORDER BY groupid"
    ).fetchall()
    return [(host, port, coordinator) for host, port, coordinator in rows]


def end_sessions_on_workers(
    admin_url: str, nodes: list[tuple[str, int, bool]], databases: list[str]
) -> None:
    """End the sessions on the Citus workers' copies of `databases`."""
    for host, port, coordinator in nodes:
        if coordinator:
            continue
        with psycopg.connect(
            psycopg.conninfo.make_conninfo(admin_url, host=host, port=port), autocommit=True
        ) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY(%s)",
                (databases,),
            )


def join_citus_cluster(url: str, nodes: list[tuple[str, int, bool]]) -> None:
    """Install citus in the new database on every node and register the nodes in it."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    for host, port, _ in nodes:
        node_url = psycopg.conninfo.make_conninfo(url, host=host, port=port, dbname=name)
        with psycopg.connect(node_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
    with psycopg.connect(url, autocommit=True) as conn:
        for host, port, coordinator in nodes:
            if coordinator:
                conn.execute("SELECT citus_set_coordinator_host(%s, %s)", (host, port))
            else:
                conn.execute("SELECT citus_add_node(%s, %s)", (host, port))


@pytest.fixture(scope="session", autouse=True)
def pgbouncer() -> Iterator[PgBouncer | None]:
    """Start PgBouncer in front of the test server when TEST_VIA_PGBOUNCER is set."""
    global _pgbouncer
    if not VIA_PGBOUNCER:
        yield None
        return
    if PgBouncer.executable() is None:
        pytest.skip(
            "TEST_VIA_PGBOUNCER is set but pgbouncer is not installed (apt-get install pgbouncer)"
        )
    info = psycopg.conninfo.conninfo_to_dict(server_url())
    bouncer = PgBouncer(str(info.get("host") or "127.0.0.1"), info.get("port") or 5432)
    bouncer.start()
    _pgbouncer = bouncer
    try:
        yield bouncer
    finally:
        _pgbouncer = None
        bouncer.stop()


def via_pgbouncer(database_url: str) -> str:
    """Return `database_url` through PgBouncer when it runs and the URL is the test server's."""
    if _pgbouncer is None:
        return database_url
    server = psycopg.conninfo.conninfo_to_dict(server_url())
    target = psycopg.conninfo.conninfo_to_dict(database_url)
    if (server.get("host"), server.get("port")) != (target.get("host"), target.get("port")):
        return database_url
    return f"postgresql://postgres@127.0.0.1:{_pgbouncer.listen_port}/{target['dbname']}"


def set_database_statement_timeout(database_url: str, milliseconds: int) -> None:
    """Set the database's own statement_timeout, as operators do behind PgBouncer."""
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET statement_timeout = {}").format(
                sql.Identifier(name), sql.Literal(f"{int(milliseconds)}ms")
            )
        )


@pytest.fixture(scope="session", autouse=True)
def metrics_directory() -> Iterator[Path]:
    """Return the session's PROMETHEUS_MULTIPROC_DIR (set above); remove it at the end."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def scratch() -> Iterator[ScratchDatabases]:
    """Hand out empty databases on the test server; all are dropped after the session."""
    databases = ScratchDatabases(server_url())
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def database_url(scratch: ScratchDatabases) -> str:
    """Return the URL of the session's migrated database."""
    url = scratch.create()
    migrate.apply(url)
    if CITUS:
        distribute.distribute(url)
    if VIA_PGBOUNCER:
        set_database_statement_timeout(url, PGBOUNCER_STATEMENT_TIMEOUT_MS)
    return url


def make_config(database_url: str, **overrides: str) -> Config:
    """Build a Config for tests from explicit settings only (no .env, no process env).

    With TEST_VIA_PGBOUNCER, the service's connections go through PgBouncer.
    """
    env = {"DATABASE_URL": via_pgbouncer(database_url), "LOG_LEVEL": "WARNING"}
    if env["DATABASE_URL"] != database_url:
        env["PG_TRANSACTION_POOLING"] = "true"
    env.update(overrides)
    return Config.from_env(env, dotenv_path=None)


@pytest.fixture(scope="session")
def runtime(database_url: str) -> Iterator[Runtime]:
    """Return the real service assembled as gunicorn would, its pool open."""
    rt = build(make_config(database_url))
    rt.pool.open(wait=True, timeout=10)
    yield rt
    rt.stop()


@pytest.fixture(scope="session")
def app(runtime: Runtime) -> TestApp:
    """Return the WSGI app wrapped by webtest, talking to the real database."""
    return TestApp(runtime.app, extra_environ={"HTTP_HOST": "tasks.test"})


@pytest.fixture(scope="module")
def hooks_app(database_url: str) -> Iterator[TestApp]:
    """Return the app of a service that accepts loopback webhook URLs (WEBHOOK_ALLOW_INSECURE).

    Module-scoped: the webhook tests' receivers and NOWHERE (tests/webhook_receiver.py) are
    on 127.0.0.1, which the default configuration refuses.
    """
    rt = build(make_config(database_url, WEBHOOK_ALLOW_INSECURE="true"))
    rt.pool.open(wait=True, timeout=10)
    yield TestApp(rt.app, extra_environ={"HTTP_HOST": "tasks.test"})
    rt.stop()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """Return a direct connection to read back what the service wrote."""
    with psycopg.connect(database_url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        yield conn


@pytest.fixture
def user_id() -> str:
    """Return a user id no other test uses."""
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def other_user() -> str:
    """Return a second user id, for isolation checks."""
    return f"other-{uuid.uuid4().hex[:12]}"


class Api:
    """Small helpers over webtest for the task endpoints of one user."""

    def __init__(self, app: TestApp, user_id: str) -> None:
        self.app = app
        self.user_id = user_id
        self.base = f"/api/{user_id}/tasks"

    def create(self, status: int = 201, **fields: object):
        """POST a task and return the webtest response."""
        body = {"title": "a task", **fields}
        return self.app.post_json(self.base, body, status=status)

    def created(self, **fields: object) -> dict:
        """POST a task and return its JSON."""
        return self.create(**fields).json

    def item(self, task_id: str) -> str:
        """Return the path of one task."""
        return f"{self.base}/{task_id}"


@pytest.fixture
def api(app: TestApp, user_id: str) -> Api:
    """Return helpers bound to a fresh user."""
    return Api(app, user_id)


@pytest.fixture
def other_api(app: TestApp, other_user: str) -> Api:
    """Return helpers bound to a second fresh user."""
    return Api(app, other_user)
