"""/docs: Swagger UI over /openapi.json, its assets served by the service itself.

The last test loads the page in headless Chromium from a real HTTP server on 127.0.0.1 and
checks that, once the page's JavaScript ran, every documented operation is listed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from service.api.openapi import openapi_document
from tests.browser import dump_dom, serve


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
    app.get("/docs/static/../../service/core/config.py", status=404)
    app.get("/docs/static/no-such-file.js", status=404)


@pytest.fixture
def served(runtime) -> Iterator[tuple[str, list[str]]]:
    """Serve the real app over HTTP on 127.0.0.1; yield (base URL, requests seen)."""
    with serve(runtime.app) as served:
        yield served


@pytest.mark.slow
def test_docs_page_lists_every_operation_in_headless_chromium(served):
    base, requests = served
    dom = html.unescape(dump_dom(f"{base}/docs"))
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
    assert {
        "GET /docs",
        "GET /docs/static/swagger-ui.css",
        "GET /docs/static/swagger-ui-bundle.js",
        "GET /openapi.json",
    } <= set(requests)
