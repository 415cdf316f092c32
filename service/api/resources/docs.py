"""API documentation: the OpenAPI document and an interactive page over it (Swagger UI)."""

from __future__ import annotations

from pathlib import Path

import falcon
from swagger_ui_bundle import swagger_ui_path

# Swagger UI's dist files as the swagger-ui-bundle-v2 package ships them; served locally.
SWAGGER_UI_DIR = Path(str(swagger_ui_path))
DOCS_STATIC = "/docs/static"

DOCS_HTML = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Tasks service API</title>
  <link rel="stylesheet" href="{DOCS_STATIC}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{DOCS_STATIC}/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{DOCS_STATIC}/swagger-ui-bundle.js" charset="utf-8"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      validatorUrl: null
    }});
  </script>
</body>
</html>
""".encode()


class OpenApiDocument:
    """GET /openapi.json: the document, serialized once at start-up."""

    def __init__(self, document: bytes) -> None:
        self._document = document

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self._document
        resp.content_type = falcon.MEDIA_JSON


class ApiDocs:
    """GET /docs: Swagger UI over /openapi.json, its assets under /docs/static."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = DOCS_HTML
        resp.content_type = falcon.MEDIA_HTML


class DocsAssets:
    """The sink under /docs/static/: Swagger UI's files for GET and HEAD, 405 for the rest.

    Falcon's add_static_route served a file whatever the method (a POST answered 200); its
    StaticRoute still does the serving here: it keeps requests inside the directory and sets
    the type, length and caching headers.
    """

    allowed = ("GET", "HEAD", "OPTIONS")

    def __init__(self) -> None:
        self._files = falcon.routing.StaticRoute(DOCS_STATIC, str(SWAGGER_UI_DIR))

    def __call__(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        """Serve the file the path names (only its headers for HEAD)."""
        method = req.method
        if method == "OPTIONS":
            resp.set_header("Allow", ", ".join(self.allowed))
            return
        if method not in self.allowed:
            raise falcon.HTTPMethodNotAllowed(list(self.allowed))
        self._files(req, resp)
        if method == "HEAD" and resp.stream is not None:
            # The headers only: close the file StaticRoute opened instead of sending it.
            resp.stream.close()
            resp.stream = None
