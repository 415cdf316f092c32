"""/health, /readyz and /livez; schema state at start-up."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from webtest import TestApp

from service.data.health import expected_migrations
from service.server import migrate
from service.server.bootstrap import StartupCheckFailed, build, check_schema
from tests.conftest import make_config


def test_health_reports_database_and_latest_migration(app):
    for path in ("/health", "/readyz"):
        body = app.get(path).json
        assert body == {"status": "ok", "database": "ok", "schema": expected_migrations()[-1]}


def test_livez_is_ok(app):
    assert app.get("/livez").json == {"status": "ok"}


def test_health_is_503_when_the_schema_is_behind(scratch):
    url = scratch.create()
    rt = build(make_config(url))
    rt.pool.open(wait=True)
    try:
        resp = TestApp(rt.app).get("/health", status=503)
        assert resp.json["status"] == "unavailable"
        assert resp.json["database"] == "ok"
        assert resp.json["schema"] is None
        assert resp.json["pending_migrations"] == expected_migrations()
    finally:
        rt.stop()


def test_start_up_check_fails_on_a_database_behind_and_passes_once_migrated(scratch):
    url = scratch.create()
    with pytest.raises(StartupCheckFailed, match="pending migrations: 0001"):
        check_schema(make_config(url))
    migrate.apply(url)
    check_schema(make_config(url))


def test_start_up_check_fails_on_an_unreachable_database():
    with pytest.raises(StartupCheckFailed, match="cannot reach"):
        check_schema(make_config("postgresql://postgres@127.0.0.1:1/none", PG_CONNECT_TIMEOUT="1"))


def test_start_up_warns_when_the_database_answers_writes_before_flushing_them(scratch, caplog):
    durable, relaxed = scratch.create(), scratch.create()
    for url in (durable, relaxed):
        migrate.apply(url)
    name = psycopg.conninfo.conninfo_to_dict(relaxed)["dbname"]
    with psycopg.connect(relaxed, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name))
        )
    check_schema(make_config(durable))
    assert "synchronous_commit is off" not in caplog.text
    check_schema(make_config(relaxed))
    assert "synchronous_commit is off" in caplog.text
