"""Every error is application/problem+json with a request id: 404, 405, 500 and 503."""

from __future__ import annotations

import logging
import time

import pytest
from webtest import TestApp

from service.api.app import create_app
from service.data.health import DatabaseHealth, expected_migrations
from service.data.queries import Queries
from service.data.tasks import TaskStore
from service.server.bootstrap import build
from tests.conftest import make_config

PROBLEM = "application/problem+json"


def test_unknown_route_is_404_problem(app):
    resp = app.get("/nope", status=404)
    assert resp.content_type == PROBLEM
    assert resp.json["status"] == 404
    assert resp.json["request_id"] == resp.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("put", "/api/u/tasks", {"GET", "POST"}),
        (
            "post",
            "/api/u/tasks/00000000-0000-4000-8000-000000000000",
            {"GET", "PUT", "PATCH", "DELETE"},
        ),
        ("get", "/api/u/tasks/00000000-0000-4000-8000-000000000000/complete", {"PATCH"}),
        ("post", "/health", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_allow(app, method, path, allowed):
    resp = getattr(app, method)(path, status=405)
    assert resp.content_type == PROBLEM
    assert allowed <= {m.strip() for m in resp.headers["Allow"].split(",")}


def test_request_id_is_echoed_when_sane(app):
    resp = app.get("/livez", headers={"X-Request-ID": "abc.DEF_123-x"})
    assert resp.headers["X-Request-ID"] == "abc.DEF_123-x"


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "semi;colon", "é"])
def test_insane_request_id_is_replaced(app, given):
    resp = app.get("/livez", headers={"X-Request-ID": given.encode("utf-8").decode("latin-1")})
    assert resp.headers["X-Request-ID"] != given
    assert 1 <= len(resp.headers["X-Request-ID"]) <= 128


def test_request_id_is_generated_on_every_response(app):
    first = app.get("/livez").headers["X-Request-ID"]
    second = app.get("/nope", status=404).headers["X-Request-ID"]
    assert first and second and first != second


class ExplodingStore(TaskStore):
    """A store whose reads fail with a bug, to prove a 500 leaks nothing."""

    def get(self, user_id, task_id):
        raise RuntimeError("secret internal detail /srv/app.py SELECT * FROM tasks")


def test_unexpected_error_is_500_problem_without_internals(runtime, caplog):
    queries = Queries.load()
    store = ExplodingStore(runtime.pool, queries)
    health = DatabaseHealth(runtime.pool, queries, expected_migrations())
    app = TestApp(create_app(runtime.config, store, health))
    with caplog.at_level(logging.ERROR):
        resp = app.get(
            "/api/u/tasks/00000000-0000-4000-8000-000000000000",
            headers={"X-Request-ID": "trace-500"},
            status=500,
        )
    assert resp.content_type == PROBLEM
    assert resp.json["request_id"] == "trace-500"
    assert "secret" not in resp.text and "SELECT" not in resp.text and "Traceback" not in resp.text
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and logged[-1].request_id == "trace-500"
    assert "secret internal detail" in caplog.text


@pytest.fixture
def unreachable_app():
    """The real service pointed at a port where no database listens."""
    config = make_config(
        "postgresql://postgres@127.0.0.1:1/none", POOL_TIMEOUT="0.5", PG_CONNECT_TIMEOUT="1"
    )
    rt = build(config)
    rt.pool.open(wait=False)
    yield TestApp(rt.app)
    rt.pool.close(timeout=1)


def test_database_unreachable_is_503_with_retry_after(unreachable_app):
    started = time.monotonic()
    resp = unreachable_app.get("/api/u/tasks", status=503)
    assert time.monotonic() - started < 5
    assert resp.content_type == PROBLEM
    assert resp.headers["Retry-After"].isdigit()
    assert resp.json["request_id"] == resp.headers["X-Request-ID"]
    unreachable_app.post_json("/api/u/tasks", {"title": "x"}, status=503)


def test_health_reports_unreachable_database(unreachable_app):
    for path in ("/health", "/readyz"):
        resp = unreachable_app.get(path, status=503)
        assert resp.json["status"] == "unavailable"
        assert resp.json["database"] == "unreachable"
    assert unreachable_app.get("/livez").json == {"status": "ok"}
