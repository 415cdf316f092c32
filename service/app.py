"""The application factory: wires middleware, media, error handling and routes."""

from __future__ import annotations

import falcon

from service import errors
from service.config import MAX_BODY_BYTES, Config
from service.health import DatabaseHealth
from service.media import media_handlers
from service.metrics import MetricsResource, PoolMetrics, RequestMetrics
from service.middleware import PathParams, RequestBody, RequestId, TrustForwardedHeaders
from service.resources.health import Health, Liveness
from service.resources.tasks import TaskCollection, TaskCompletion, TaskItem
from service.store import TaskStore

EXPOSED_HEADERS = ["ETag", "Location", "Link", "X-Request-ID", "Idempotent-Replayed", "Retry-After"]


def create_app(
    config: Config,
    store: TaskStore,
    health: DatabaseHealth,
    pool_metrics: PoolMetrics | None = None,
) -> falcon.App:
    """Build the WSGI app around its collaborators; no I/O happens here."""
    origins = "*" if "*" in config.cors_allow_origins else list(config.cors_allow_origins)
    middleware: list[object] = [
        # First, so that the latency it records covers every other middleware.
        RequestMetrics(),
        RequestId(),
        falcon.CORSMiddleware(allow_origins=origins, expose_headers=EXPOSED_HEADERS),
    ]
    if config.trust_forwarded_headers:
        middleware.append(TrustForwardedHeaders())
    middleware += [PathParams(), RequestBody()]

    app = falcon.App(middleware=middleware)
    # Only JSON: Falcon's default form and multipart handlers would accept non-JSON bodies.
    handlers = media_handlers(MAX_BODY_BYTES)
    app.req_options.media_handlers = falcon.media.Handlers(handlers)
    app.resp_options.media_handlers = falcon.media.Handlers(handlers)
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app, config.retry_after_seconds)

    app.add_route("/api/{user_id}/tasks", TaskCollection(store))
    app.add_route("/api/{user_id}/tasks/{task_id}", TaskItem(store))
    app.add_route("/api/{user_id}/tasks/{task_id}/complete", TaskCompletion(store))

    health_resource = Health(health, config.retry_after_seconds)
    app.add_route("/health", health_resource)
    app.add_route("/readyz", health_resource)
    app.add_route("/livez", Liveness())
    app.add_route("/metrics", MetricsResource(pool_metrics))
    return app
