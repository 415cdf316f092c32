"""The application factory: wires middleware, media, error handling and routes."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from service.api import errors
from service.api.auth import authentication
from service.api.conditional import handle_precondition_failed
from service.api.cors import Cors
from service.api.idempotency import IdempotencyKeys
from service.api.listing import CursorCodec
from service.api.media import MediaHandlers, media_handlers
from service.api.middleware import (
    EventUrls,
    PathParams,
    RequestBody,
    RequestId,
    TrustForwardedHeaders,
)
from service.api.openapi import openapi_json
from service.api.ratelimit import rate_limits
from service.api.resources.account import UserAccount, UserExport
from service.api.resources.batch import Batch
from service.api.resources.changes import Changes
from service.api.resources.completions import LatestCompletion, TaskCompletions
from service.api.resources.docs import DOCS_STATIC, ApiDocs, DocsAssets, OpenApiDocument
from service.api.resources.health import Health, Liveness
from service.api.resources.lists import ListCollection, ListItem
from service.api.resources.reminders import ReminderAck, ReminderCollection, ReminderSnooze
from service.api.resources.settings import UserSettings
from service.api.resources.stats import TaskStats
from service.api.resources.tasks import TaskCollection, TaskCompletion, TaskItem, TaskMove
from service.api.resources.trash import Trash, TrashBatch, TrashRestore
from service.api.resources.webhooks import WebhookCollection, WebhookDeliveries, WebhookItem
from service.core.config import MAX_BODY_BYTES, Config
from service.core.metrics import MetricsResource, PoolMetrics, RequestMetrics
from service.data.deadline import RequestDeadline
from service.data.health import DatabaseHealth
from service.data.preconditions import PreconditionFailed
from service.data.tasks import TaskStore
from service.data.webhooks import WebhookStore
from service.domain.tree import RuleViolation


def create_app(
    config: Config,
    store: TaskStore,
    health: DatabaseHealth,
    idempotency: IdempotencyKeys | None = None,
    pool_metrics: PoolMetrics | None = None,
    webhooks: WebhookStore | None = None,
    cursor_key: Callable[[], bytes] | None = None,
) -> falcon.App:
    """Build the WSGI app around its collaborators; no I/O happens here.

    Without `idempotency`, the Idempotency-Key header is ignored. `cursor_key` returns the
    stored key that signs listing cursors when CURSOR_SECRET is unset (asked on first use).
    """
    middleware: list[object] = [
        # First, so that the latency it records covers every other middleware.
        RequestMetrics(),
        RequestId(),
        RequestDeadline(config.db_deadline_ms / 1000),
        Cors(config.cors_allow_origins),
    ]
    if config.trust_forwarded_headers:
        middleware.append(TrustForwardedHeaders())
    middleware.append(EventUrls())
    auth = authentication(config)
    if auth is not None:
        # Before the path and body checks: an anonymous caller learns nothing from a 422.
        middleware.append(auth)
    middleware.append(PathParams())
    limiter = rate_limits(config)
    if limiter is not None:
        # After authentication and the path checks (only a request that passed them is
        # charged to a user), before the body is read (a refused request costs little).
        middleware.append(limiter)
    middleware.append(RequestBody())
    if idempotency is not None:
        # Last: only a request that passed every check claims its key.
        middleware.append(idempotency)

    app = falcon.App(middleware=middleware)
    # Only JSON: Falcon's default form and multipart handlers would accept non-JSON bodies.
    handlers = media_handlers(MAX_BODY_BYTES)
    app.req_options.media_handlers = MediaHandlers(handlers)
    app.resp_options.media_handlers = MediaHandlers(handlers)
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app, config.retry_after_seconds)
    app.add_error_handler(PreconditionFailed, handle_precondition_failed)
    app.add_error_handler(RuleViolation, errors.handle_rule_violation)

    cursors = CursorCodec.from_config(config, cursor_key or _no_stored_key)
    routes: list[tuple[str, object]] = [
        ("/api/{user_id}/tasks", TaskCollection(store, cursors)),
        ("/api/{user_id}/tasks/{task_id}", TaskItem(store)),
        ("/api/{user_id}/tasks/{task_id}/complete", TaskCompletion(store)),
        ("/api/{user_id}/tasks/{task_id}/move", TaskMove(store)),
        ("/api/{user_id}/tasks/{task_id}/completions", TaskCompletions(store)),
        ("/api/{user_id}/tasks/{task_id}/completions/latest", LatestCompletion(store)),
        ("/api/{user_id}/batch", Batch(store)),
        ("/api/{user_id}/export", UserExport(store.account)),
        ("/api/{user_id}", UserAccount(store.account)),
        ("/api/{user_id}/stats", TaskStats(store.listing)),
        ("/api/{user_id}/lists", ListCollection(store.lists)),
        ("/api/{user_id}/lists/{list_id}", ListItem(store.lists, store.trash)),
        ("/api/{user_id}/settings", UserSettings(store.settings)),
        ("/api/{user_id}/trash", Trash(store.trash, cursors)),
        ("/api/{user_id}/changes", Changes(store.changes, cursors)),
        ("/api/{user_id}/trash/{batch_id}", TrashBatch(store.trash)),
        ("/api/{user_id}/trash/{batch_id}/restore", TrashRestore(store.trash)),
        ("/api/{user_id}/reminders", ReminderCollection(store.reminders)),
        ("/api/{user_id}/reminders/{reminder_id}/snooze", ReminderSnooze(store.reminders)),
        ("/api/{user_id}/reminders/{reminder_id}/ack", ReminderAck(store.reminders)),
    ]
    if webhooks is not None:
        insecure = config.webhook_allow_insecure
        routes += [
            ("/api/{user_id}/webhooks", WebhookCollection(webhooks, insecure)),
            ("/api/{user_id}/webhooks/{webhook_id}", WebhookItem(webhooks, insecure)),
            ("/api/{user_id}/webhooks/{webhook_id}/deliveries", WebhookDeliveries(webhooks)),
        ]
    health_resource = Health(health, config.retry_after_seconds)
    routes += [
        ("/health", health_resource),
        ("/readyz", health_resource),
        ("/livez", Liveness()),
        ("/openapi.json", OpenApiDocument(openapi_json())),
        ("/docs", ApiDocs()),
        ("/metrics", MetricsResource(pool_metrics)),
    ]
    for template, resource in routes:
        app.add_route(template, _with_head(resource))
    app.add_sink(DocsAssets(), DOCS_STATIC + "/")
    return app


def _with_head(resource: object) -> object:
    """Answer HEAD like GET, without the body (Falcon drops it), where GET is served.

    RFC 9110 9.3.2: a server that serves GET should serve HEAD; Falcon answers 405 unless the
    resource has on_head.
    """
    on_get = getattr(resource, "on_get", None)
    if on_get is not None and not hasattr(resource, "on_head"):
        resource.on_head = on_get  # type: ignore[attr-defined]
    return resource


def _no_stored_key() -> bytes:
    raise RuntimeError("create_app needs cursor_key (the stored key) when CURSOR_SECRET is unset")
