"""The webhook endpoints in /openapi.json: paths, request and response schemas.

Kept beside service/api/openapi.py (which merges these in `build_spec`) so that the
document's task part and webhook part can change independently.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from service.api.openapi import BODY_ERRORS, _api_operation, _body, _ok
from service.api.webhook_schemas import WebhookWrite
from service.domain.webhooks import EVENT_TYPES, MAX_URL_LENGTH

WEBHOOKS = "/api/{user_id}/webhooks"
WEBHOOK = "/api/{user_id}/webhooks/{webhook_id}"
DELIVERIES = "/api/{user_id}/webhooks/{webhook_id}/deliveries"

TIMESTAMP_EXAMPLE = "2026-01-24T10:00:00.123456Z"
URL_RULE = (
    "Where events are POSTed. Must be https (plain http only with WEBHOOK_ALLOW_INSECURE), "
    f"at most {MAX_URL_LENGTH} characters, without credentials or fragment. Only the form "
    "is checked here; each delivery checks that the host resolves to public addresses."
)


def _timestamp(description: str, *, allow_none: bool = False) -> fields.Field:
    return fields.AwareDateTime(
        required=True,
        allow_none=allow_none,
        metadata={"description": description, "example": TIMESTAMP_EXAMPLE},
    )


class WebhookOut(Schema):
    """A webhook as GET returns it (never its secret)."""

    id = fields.UUID(required=True)
    user_id = fields.String(required=True)
    url = fields.String(required=True, metadata={"format": "uri", "description": URL_RULE})
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        metadata={"description": "The event types delivered; sorted, without repeats."},
    )
    enabled = fields.Boolean(
        required=True,
        metadata={
            "description": "False after 3 days of failed deliveries (or when set so); "
            'PATCH `{"enabled": true}` turns it back on.'
        },
    )
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    created_at = _timestamp("Set by the server.")
    updated_at = _timestamp("Moves on every change.")


class WebhookCreated(WebhookOut):
    """The answer to POST: the webhook with its signing secret, shown this once."""

    secret = fields.String(
        required=True,
        metadata={
            "description": "`whsec_` + base64 of 32 random bytes: the key of the "
            "`webhook-signature` HMAC (Standard Webhooks). Shown only in this answer.",
            "pattern": "^whsec_[A-Za-z0-9+/]{43}=$",
        },
    )


class DeliveryOut(Schema):
    """One delivery attempt of one event to the webhook."""

    event_id = fields.UUID(required=True, metadata={"description": "The `webhook-id` sent."})
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    attempt = fields.Integer(required=True, validate=validate.Range(min=1))
    status = fields.String(
        required=True,
        validate=validate.OneOf(("pending", "succeeded", "failed")),
        metadata={
            "description": "succeeded: a 2xx answer; pending: not attempted yet, or failed "
            "with a retry scheduled at `next_attempt_at`; failed: given up after 3 days."
        },
    )
    response_code = fields.Integer(
        required=True, allow_none=True, metadata={"description": "null: no HTTP answer."}
    )
    attempted_at = _timestamp("When the attempt was made; null before it.", allow_none=True)
    next_attempt_at = _timestamp("When the next attempt is due, if any.", allow_none=True)


class WebhookInput(WebhookWrite):
    """What a client sends: url and events to create; any of url, events, enabled to change."""

    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_URL_LENGTH),
        metadata={"format": "uri", "description": URL_RULE},
    )


SCHEMAS: dict[str, Any] = {
    "Webhook": WebhookOut,
    "WebhookCreated": WebhookCreated,
    "WebhookDelivery": DeliveryOut,
    "WebhookCreate": WebhookInput,
    "WebhookUpdate": WebhookInput(partial=True),
}

PARAMETERS: dict[str, tuple[str, dict[str, Any]]] = {
    "webhook_id": ("path", {"name": "webhook_id", "schema": {"type": "string", "format": "uuid"}}),
}

TAG = {
    "name": "webhooks",
    "description": "Signed HTTP callbacks on a user's changes (Standard Webhooks), "
    "delivered at least once from an outbox, retried for 3 days.",
}


# Realistic bodies for Swagger UI's "Try it out".
WEBHOOK_CREATE_EXAMPLE = {
    "url": "https://hooks.example.com/tasks",
    "events": ["task.created", "task.completed"],
}
WEBHOOK_UPDATE_EXAMPLE = {"events": ["task.created", "task.completed", "task.deleted"]}


def webhook_paths() -> dict[str, dict[str, Any]]:
    """Return the webhook paths and their operations."""
    one = "Webhook"
    return {
        WEBHOOKS: {
            "parameters": ["user_id"],
            "get": _api_operation(
                "listWebhooks",
                "List the user's webhooks (without secrets)",
                tag="webhooks",
                responses={"200": _ok("The webhooks.", {"type": "array", "items": one})},
            ),
            "post": _api_operation(
                "createWebhook",
                "Subscribe a URL to event types",
                tag="webhooks",
                parameters=("Idempotency-Key",),
                requestBody=_body("WebhookCreate", WEBHOOK_CREATE_EXAMPLE),
                responses={
                    "201": _ok(
                        "The webhook and its secret, shown this once.",
                        "WebhookCreated",
                        Location="Location",
                    )
                },
                errors=(*BODY_ERRORS, 409),
            ),
        },
        WEBHOOK: {
            "parameters": ["user_id", "webhook_id"],
            "get": _api_operation(
                "getWebhook",
                "Read a webhook",
                tag="webhooks",
                responses={"200": _ok("The webhook.", one)},
                errors=(404,),
            ),
            "patch": _api_operation(
                "patchWebhook",
                "Change a webhook's url, events or enabled",
                tag="webhooks",
                parameters=("Idempotency-Key",),
                requestBody=_body("WebhookUpdate", WEBHOOK_UPDATE_EXAMPLE),
                responses={"200": _ok("The webhook.", one)},
                errors=(*BODY_ERRORS, 404, 409),
            ),
            "delete": _api_operation(
                "deleteWebhook",
                "Delete a webhook and its pending deliveries",
                tag="webhooks",
                parameters=("Idempotency-Key",),
                responses={"200": _ok("The deleted webhook.", one)},
                errors=(404, 409),
            ),
        },
        DELIVERIES: {
            "parameters": ["user_id", "webhook_id"],
            "get": _api_operation(
                "listWebhookDeliveries",
                "List a webhook's recent delivery attempts, newest first",
                tag="webhooks",
                responses={
                    "200": _ok("Up to 100 attempts.", {"type": "array", "items": "WebhookDelivery"})
                },
                errors=(404,),
            ),
        },
    }
