"""Settings for a transaction-pooling proxy (PgBouncer) in front of PostgreSQL."""

from __future__ import annotations

import pytest

from service.core.config import Config
from service.data.pool import create_pool
from service.data.queries import Queries
from service.server import migrate
from service.server.bootstrap import check_schema
from tests.conftest import VIA_PGBOUNCER, make_config, set_database_statement_timeout


def config(**env: str) -> Config:
    return Config.from_env({"DATABASE_URL": "postgresql://db/tasks", **env}, dotenv_path=None)


def test_transaction_pooling_turns_off_prepared_statements_unless_told_otherwise():
    assert config().prepare_threshold == 5
    assert config(PG_TRANSACTION_POOLING="true").prepare_threshold is None
    assert config(PG_TRANSACTION_POOLING="true", PG_PREPARE_THRESHOLD="3").prepare_threshold == 3


def test_transaction_pooling_drops_the_session_level_statement_timeout():
    queries = Queries.load()
    assert create_pool(config(), queries)._configure is not None
    assert create_pool(config(PG_TRANSACTION_POOLING="true"), queries)._configure is None


@pytest.mark.skipif(not VIA_PGBOUNCER, reason="only in the PgBouncer pass (TEST_VIA_PGBOUNCER=1)")
def test_the_service_reaches_the_database_through_pgbouncer(runtime, pgbouncer):
    assert runtime.config.transaction_pooling
    assert f":{pgbouncer.listen_port}/" in runtime.config.database_url
    with runtime.pool.connection() as conn:
        # The database's own setting reached the server session behind PgBouncer.
        timeout = conn.execute("SELECT current_setting('statement_timeout') AS t").fetchone()
    assert timeout == {"t": "2s"}


def test_start_up_warns_when_pooling_without_a_server_side_statement_timeout(scratch, caplog):
    bare, configured = scratch.create(), scratch.create()
    for url in (bare, configured):
        migrate.apply(url)
    # Before any session opens (PgBouncer keeps server sessions, with their settings).
    set_database_statement_timeout(configured, 1500)
    check_schema(make_config(bare, PG_TRANSACTION_POOLING="true"))
    assert "sets no statement_timeout" in caplog.text
    caplog.clear()
    check_schema(make_config(configured, PG_TRANSACTION_POOLING="true"))
    assert "sets no statement_timeout" not in caplog.text
