"""Task URLs follow the request's host and scheme, and forwarding headers only when trusted."""

from __future__ import annotations

import pytest
from webtest import TestApp

from service.server.bootstrap import build
from tests.conftest import make_config

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}


def test_forwarding_headers_are_ignored_by_default(app, user_id):
    task = app.post_json(f"/api/{user_id}/tasks", {"title": "x"}, headers=FORWARDED).json
    assert task["url"].startswith("http://tasks.test/")


@pytest.fixture
def trusting_app(database_url):
    rt = build(make_config(database_url, TRUST_FORWARDED_HEADERS="true"))
    rt.pool.open(wait=True)
    yield TestApp(rt.app, extra_environ={"HTTP_HOST": "internal:8000"})
    rt.stop()


def test_forwarding_headers_shape_urls_when_trusted(trusting_app, user_id):
    resp = trusting_app.post_json(f"/api/{user_id}/tasks", {"title": "x"}, headers=FORWARDED)
    assert resp.json["url"].startswith(f"https://api.example.com/api/{user_id}/tasks/")
    assert resp.headers["Location"] == resp.json["url"]


def test_https_scheme_from_the_server_is_kept(app, user_id):
    task = app.post_json(
        f"/api/{user_id}/tasks", {"title": "x"}, extra_environ={"wsgi.url_scheme": "https"}
    ).json
    assert task["url"].startswith("https://tasks.test/")
