"""CORS per the contract: configured origins, preflight on every route and verb, exposed headers."""

from __future__ import annotations

import html
import json
import re

import pytest
from falcon import inspect
from webtest import TestApp

from service.api.cors import ALLOW_HEADERS
from service.server.bootstrap import build
from tests.browser import chromium_or_skip, dump_dom, serve
from tests.conftest import make_config

ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://evil.example"
CONTRACT_EXPOSED = {"ETag", "Location", "Link", "X-Request-ID", "Idempotent-Replayed"}
CONTRACT_REQUEST_HEADERS = (
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "Authorization",
    "X-Request-ID",
)


class _SampleParams(dict):
    """Path parameters for any route: alice, and a sample UUID for every id."""

    def __missing__(self, key: str) -> str:
        return "00000000-0000-4000-8000-000000000000"


SAMPLE_PARAMS = _SampleParams(user_id="alice")


def _routes(app) -> list[tuple[str, str]]:
    """Return (concrete path, method) for every non-default responder the app routes."""
    return [
        (route.path.format_map(SAMPLE_PARAMS), method.method)
        for route in inspect.inspect_app(app).routes
        for method in route.methods
        if not method.internal
    ]


def _split(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _exposed(resp) -> set[str]:
    return _split(resp.headers.get("Access-Control-Expose-Headers"))


@pytest.fixture(scope="module")
def listed_origins(database_url):
    """Return the service configured with an explicit origin list, its pool open."""
    rt = build(make_config(database_url, CORS_ALLOW_ORIGINS=f"{ORIGIN}, https://second.example"))
    rt.pool.open(wait=True, timeout=10)
    yield TestApp(rt.app, extra_environ={"HTTP_HOST": "tasks.test"})
    rt.stop()


def _preflight(app: TestApp, path: str, method: str, origin: str = ORIGIN, status: int = 200):
    return app.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ", ".join(
                h.lower() for h in CONTRACT_REQUEST_HEADERS
            ),
        },
        status=status,
    )


def test_preflight_is_answered_for_every_route_and_verb(runtime):
    app = TestApp(runtime.app)
    routes = _routes(runtime.app)
    assert {m for _, m in routes} >= {"GET", "POST", "PUT", "PATCH", "DELETE"}
    for path, method in routes:
        resp = _preflight(app, path, method)
        assert resp.headers["Access-Control-Allow-Origin"] == "*", (path, method)
        assert method in _split(resp.headers["Access-Control-Allow-Methods"]), (path, method)
        allowed = {h.lower() for h in _split(resp.headers["Access-Control-Allow-Headers"])}
        assert {h.lower() for h in CONTRACT_REQUEST_HEADERS} <= allowed, (path, method)
        assert int(resp.headers["Access-Control-Max-Age"]) > 0


def test_preflight_allows_exactly_the_contract_request_headers(app):
    resp = app.options(
        "/api/alice/tasks",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-unknown-header",
        },
    )
    assert _split(resp.headers["Access-Control-Allow-Headers"]) == set(ALLOW_HEADERS)
    assert set(CONTRACT_REQUEST_HEADERS) == set(ALLOW_HEADERS)


def test_preflight_lists_only_the_methods_the_route_has(app):
    resp = _preflight(app, "/api/alice/tasks/00000000-0000-4000-8000-000000000000/complete", "PUT")
    assert _split(resp.headers["Access-Control-Allow-Methods"]) == {"PATCH"}


def test_simple_response_exposes_the_contract_headers(api):
    resp = api.app.post_json(api.base, {"title": "cors"}, headers={"Origin": ORIGIN}, status=201)
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert CONTRACT_EXPOSED <= _exposed(resp)
    assert "Vary" not in resp.headers  # the wildcard answer does not depend on the origin


def test_without_origin_no_cors_headers_are_added(app):
    resp = app.get("/livez")
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize("origin", [ORIGIN, "https://second.example"])
def test_listed_origin_is_echoed_with_vary(listed_origins, origin):
    resp = listed_origins.get("/api/alice/tasks", headers={"Origin": origin})
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in _split(resp.headers["Vary"])
    assert CONTRACT_EXPOSED <= _exposed(resp)


def test_unlisted_origin_gets_no_cors_headers_but_still_vary(listed_origins):
    resp = listed_origins.get("/api/alice/tasks", headers={"Origin": OTHER_ORIGIN})
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Access-Control-Expose-Headers" not in resp.headers
    assert "Origin" in _split(resp.headers["Vary"])
    preflight = _preflight(listed_origins, "/api/alice/tasks", "DELETE", origin=OTHER_ORIGIN)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Methods" not in preflight.headers


def test_vary_origin_is_on_responses_without_origin_too(listed_origins):
    # A shared cache must not hand this answer to a cross-origin request.
    resp = listed_origins.get("/livez")
    assert "Origin" in _split(resp.headers["Vary"])


def test_listed_origin_preflight_for_a_write(listed_origins):
    resp = _preflight(
        listed_origins, "/api/alice/tasks/00000000-0000-4000-8000-000000000000", "PUT"
    )
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "PUT" in _split(resp.headers["Access-Control-Allow-Methods"])


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/no/such/route", 404, None),
        ("GET", "/api/alice/tasks/00000000-0000-4000-8000-000000000000", 404, None),
        ("GET", "/api/alice/tasks/not-a-uuid", 422, None),
        ("POST", "/api/alice/tasks", 422, {"title": ""}),
        ("POST", "/api/alice/tasks", 400, None),
        ("PUT", "/api/alice/tasks", 405, None),
    ],
)
def test_error_responses_carry_cors_headers(listed_origins, method, path, status, body):
    kwargs = {"headers": {"Origin": ORIGIN}, "status": status}
    if body is not None:
        resp = listed_origins.request(path, method=method, json=body, expect_errors=True, **kwargs)
    elif method == "POST":
        resp = listed_origins.request(
            path,
            method=method,
            body=b"{not json",
            content_type="application/json",
            expect_errors=True,
            **kwargs,
        )
    else:
        resp = listed_origins.request(path, method=method, expect_errors=True, **kwargs)
    assert resp.status_int == status
    assert resp.content_type == "application/problem+json"
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert CONTRACT_EXPOSED <= _exposed(resp)


def test_503_carries_cors_headers_and_exposes_retry_after():
    config = make_config(
        "postgresql://postgres@127.0.0.1:1/none",
        POOL_TIMEOUT="0.5",
        PG_CONNECT_TIMEOUT="1",
        CORS_ALLOW_ORIGINS=ORIGIN,
    )
    rt = build(config)
    rt.pool.open(wait=False)
    try:
        resp = TestApp(rt.app).get("/api/alice/tasks", headers={"Origin": ORIGIN}, status=503)
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert {"Retry-After", "X-Request-ID"} <= _exposed(resp)
    finally:
        rt.pool.close(timeout=1)


BROWSER_PAGE = """<!DOCTYPE html>
<html><body><pre id="out">pending</pre><script>
const tasks = "%(api)s/api/%(user)s/tasks";
async function run() {
  const out = {};
  let r = await fetch(tasks, {
    method: "POST",
    headers: {"Content-Type": "application/json", "Idempotency-Key": "browser-%(user)s",
              "X-Request-ID": "browser-post"},
    body: JSON.stringify({title: "from a browser", order: 1}),
  });
  const task = await r.json();
  out.post = {status: r.status, etag: r.headers.get("ETag"),
              location: r.headers.get("Location"), request_id: r.headers.get("X-Request-ID")};
  r = await fetch(task.url, {
    method: "PATCH",
    headers: {"Content-Type": "application/merge-patch+json", "If-Match": out.post.etag},
    body: JSON.stringify({completed: true}),
  });
  out.patch = {status: r.status, etag: r.headers.get("ETag"), body: await r.json()};
  r = await fetch(task.url, {method: "PUT", headers: {"Content-Type": "application/json"},
                             body: JSON.stringify({title: "renamed"})});
  out.put = {status: r.status};
  r = await fetch(task.url, {headers: {"If-None-Match": '"1"'}});
  out.get = {status: r.status, title: (await r.json()).title};
  r = await fetch(task.url, {method: "DELETE"});
  out.delete = {status: r.status};
  r = await fetch(task.url);
  out.missing = {status: r.status, type: r.headers.get("Content-Type"),
                 request_id: r.headers.get("X-Request-ID")};
  document.getElementById("out").textContent = JSON.stringify(out);
}
run().catch(e => { document.getElementById("out").textContent = "ERROR " + e; });
</script></body></html>
"""


@pytest.mark.slow
def test_a_browser_on_an_allowed_origin_can_use_the_api_and_read_its_headers(database_url, user_id):
    chromium_or_skip()
    page: dict[str, bytes] = {}

    def page_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page["html"]]

    with serve(page_app) as (page_base, _):
        rt = build(make_config(database_url, CORS_ALLOW_ORIGINS=page_base))
        rt.pool.open(wait=True, timeout=10)
        try:
            with serve(rt.app) as (api_base, api_requests):
                page["html"] = (BROWSER_PAGE % {"api": api_base, "user": user_id}).encode()
                allowed = _browser_output(dump_dom(f"{page_base}/"))
                # The same page from another origin (localhost is not 127.0.0.1) is refused.
                refused = _browser_output(dump_dom(page_base.replace("127.0.0.1", "localhost")))
        finally:
            rt.stop()

    assert isinstance(allowed, dict), allowed  # the page's script failed: CORS refused it
    assert allowed["post"]["status"] == 201
    assert allowed["post"]["etag"] and allowed["post"]["request_id"] == "browser-post"
    assert allowed["post"]["location"].startswith(f"{api_base}/api/{user_id}/tasks/")
    assert allowed["patch"]["status"] == 200 and allowed["patch"]["body"]["completed"] is True
    assert allowed["patch"]["etag"] != allowed["post"]["etag"]
    assert allowed["put"] == {"status": 200}
    assert allowed["get"] == {"status": 200, "title": "renamed"}
    assert allowed["delete"] == {"status": 200}
    assert allowed["missing"]["status"] == 404
    assert allowed["missing"]["type"] == "application/problem+json"
    assert allowed["missing"]["request_id"]
    # Writes with custom headers were preflighted, and the preflights were answered.
    assert any(r.startswith("OPTIONS ") for r in api_requests)
    assert refused == "ERROR TypeError: Failed to fetch"


def _browser_output(dom: str):
    match = re.search(r'<pre id="out">(.*?)</pre>', dom, re.DOTALL)
    assert match, dom[-2000:]
    text = html.unescape(match.group(1))
    return text if text.startswith("ERROR") else json.loads(text)
