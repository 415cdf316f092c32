"""/docs: Swagger UI over /openapi.json, its assets served by the service itself.

The last test loads the page in headless Chromium from a real HTTP server on 127.0.0.1 and
checks that, once the page's JavaScript ran, every documented operation is listed.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from service.openapi import openapi_document

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


def _asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


def test_docs_page_is_html_that_loads_only_local_assets(app):
    resp = app.get("/docs")
    assert resp.content_type == "text/html"
    urls = _asset_urls(resp.text)
    assert urls, "the page references no assets"
    for url in urls:
        assert url.startswith("/docs/static/"), url
        app.get(url)  # each one is served here
    assert '"/openapi.json"' in resp.text
    assert "://" not in resp.text  # no CDN, no absolute URL anywhere


def test_swagger_ui_assets_are_served_from_the_installed_package(app):
    script = app.get("/docs/static/swagger-ui-bundle.js")
    assert "javascript" in script.content_type
    assert b"SwaggerUIBundle" in script.body
    assert "css" in app.get("/docs/static/swagger-ui.css").content_type


def test_docs_static_route_serves_nothing_outside_the_bundle(app):
    app.get("/docs/static/../../service/config.py", status=404)
    app.get("/docs/static/no-such-file.js", status=404)


class _RecordingHandler(WSGIRequestHandler):
    """Remember each request path instead of logging it to stderr."""

    paths: list[str]

    def log_message(self, format: str, *args: object) -> None:
        self.paths.append(self.path)


@pytest.fixture
def served(runtime) -> Iterator[tuple[str, list[str]]]:
    """Serve the real app over HTTP on 127.0.0.1 (an ephemeral port); yield (base, paths)."""
    paths: list[str] = []
    handler = type("Handler", (_RecordingHandler,), {"paths": paths})
    server: WSGIServer = make_server("127.0.0.1", 0, runtime.app, handler_class=handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")


@pytest.mark.slow
def test_docs_page_lists_every_operation_in_headless_chromium(served):
    chromium = _chromium()
    base, paths = served
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                f"{base}/docs",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = html.unescape(result.stdout)
    assert 'id="swagger-ui"' in dom
    assert "errors-wrapper" not in dom, "Swagger UI reported errors in the document"

    document = openapi_document()
    listed_paths = set(re.findall(r'data-path="([^"]+)"', dom))
    assert listed_paths == set(document["paths"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert f'id="operations-{operation["tags"][0]}-{operation["operationId"]}"' in dom, (
                path,
                method,
            )
            assert operation["summary"] in dom, (path, method)

    # Everything came from this server: the page, Swagger UI's files and the document.
    assert {"/docs", "/docs/static/swagger-ui-bundle.js", "/openapi.json"} <= set(paths)
    assert "/docs/static/swagger-ui.css" in paths
