"""Webhook resources: /api/{user_id}/webhooks, /webhooks/{webhook_id} and its deliveries."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote
from uuid import UUID

import falcon
from marshmallow import Schema

from service.api.errors import RequestValidationError
from service.api.webhook_schemas import webhook_create_schema, webhook_update_schema
from service.data.webhooks import Row, WebhookStore
from service.domain.webhooks import url_problem

NOT_FOUND = "No such webhook."
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Characters of a user_id that may stand in a path unescaped ("|" is not one of them).
_PATH_SAFE = "~@:+._-"


def new_secret() -> str:
    """Return a new signing secret: 'whsec_' and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode("ascii")


def timestamp_text(moment: datetime | None) -> str | None:
    """Format a timestamp as the contract's RFC 3339 text in UTC (microseconds, Z)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def webhook_id_from(raw: str) -> UUID:
    """Return the path's webhook id as a UUID; anything else is a 422 naming it."""
    if not _UUID.fullmatch(raw):
        raise RequestValidationError.single("path", "webhook_id", "Must be a UUID.")
    return UUID(raw)


def _found(row: Row | None) -> Row:
    if row is None:
        # The same answer whether the webhook never existed or belongs to someone else.
        raise falcon.HTTPNotFound(description=NOT_FOUND)
    return row


def _webhooks_url(req: falcon.Request, user_id: str) -> str:
    prefix = req.context.get("url_prefix") or req.prefix
    return f"{prefix}/api/{quote(user_id, safe=_PATH_SAFE)}/webhooks"


def present(row: Row) -> dict[str, Any]:
    """Return a webhook's JSON body (never its secret)."""
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "url": row["url"],
        "events": row["events"],
        "enabled": row["enabled"],
        "version": row["version"],
        "created_at": timestamp_text(row["created_at"]),
        "updated_at": timestamp_text(row["updated_at"]),
    }


class _WebhookUrlCheck:
    def __init__(self, allow_insecure: bool) -> None:
        self._allow_insecure = allow_insecure

    def check_url(self, body: Mapping[str, Any]) -> None:
        # Only the form: whether its host is public is checked on each delivery, on the
        # address actually connected to (a name need not resolve yet).
        if "url" in body:
            problem = url_problem(body["url"], self._allow_insecure)
            if problem is not None:
                raise RequestValidationError.single("body", "url", problem)


class WebhookCollection(_WebhookUrlCheck):
    """A user's webhooks: list them, create one (its secret is shown this once)."""

    schemas: ClassVar[Mapping[str, Schema]] = {"POST": webhook_create_schema}

    def __init__(self, store: WebhookStore, allow_insecure: bool) -> None:
        super().__init__(allow_insecure)
        self._store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        resp.media = [present(row) for row in self._store.list(user_id)]

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        body = req.context.body
        self.check_url(body)
        secret = new_secret()
        row = self._store.create(user_id, body["url"], body["events"], secret)
        resp.status = falcon.HTTP_201
        resp.media = {**present(row), "secret": secret}
        resp.location = f"{_webhooks_url(req, user_id)}/{row['id']}"


class WebhookItem(_WebhookUrlCheck):
    """One webhook: read, change (url, events, enabled), delete."""

    schemas: ClassVar[Mapping[str, Schema]] = {"PATCH": webhook_update_schema}

    def __init__(self, store: WebhookStore, allow_insecure: bool) -> None:
        super().__init__(allow_insecure)
        self._store = store

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, webhook_id: str
    ) -> None:
        resp.media = present(_found(self._store.get(user_id, webhook_id_from(webhook_id))))

    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, webhook_id: str
    ) -> None:
        key = webhook_id_from(webhook_id)
        self.check_url(req.context.body)
        resp.media = present(_found(self._store.update(user_id, key, req.context.body)))

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, webhook_id: str
    ) -> None:
        resp.media = present(_found(self._store.delete(user_id, webhook_id_from(webhook_id))))


class WebhookDeliveries:
    """A webhook's recent delivery attempts, newest first."""

    def __init__(self, store: WebhookStore) -> None:
        self._store = store

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, webhook_id: str
    ) -> None:
        key = webhook_id_from(webhook_id)
        _found(self._store.get(user_id, key))
        resp.media = [
            {
                "event_id": row["event_id"],
                "type": row["type"],
                "attempt": row["attempt"],
                "status": row["status"],
                "response_code": row["response_code"],
                "attempted_at": timestamp_text(row["attempted_at"]),
                "next_attempt_at": timestamp_text(row["next_attempt_at"]),
            }
            for row in self._store.deliveries(user_id, key)
        ]
